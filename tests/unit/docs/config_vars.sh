#!/usr/bin/env bash
# Every IOT_* variable the code reads (a string literal "IOT_..." in libs/, services/, bench/: the config
# reader's calls and the few getenv) must be in the first column of README.md's configuration table.
# Prints the undocumented ones and fails.
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/../../.." && pwd)}
read_by_code=$(grep -rhoE --include='*.cpp' --include='*.hpp' --include='*.c' --include='*.h' \
  '"IOT_[A-Z0-9_]+"' "$root/libs" "$root/services" "$root/bench" | tr -d '"' | sort -u)
documented=$(awk -F'|' '/^\| *`IOT_/ { print $2 }' "$root/README.md" | grep -oE 'IOT_[A-Z0-9_]+' | sort -u)
[[ -n $read_by_code && -n $documented ]] || { echo "found no variables (code: ${#read_by_code}, README: ${#documented})"; exit 1; }
missing=$(comm -23 <(printf '%s\n' "$read_by_code") <(printf '%s\n' "$documented"))
if [[ -n $missing ]]; then
  echo "IOT_ variables read by the code but missing from README.md's configuration table:"
  printf '  %s\n' $missing
  exit 1
fi
echo "all $(printf '%s\n' "$read_by_code" | wc -l) IOT_ variables the code reads are documented"
