#!/usr/bin/env bash
# help_version.sh <version> <binary>...: each binary answers --help (a usage line naming it, its options)
# and --version ("<name> <version> (commit ...)") with exit 0 on stdout, and refuses an unknown option
# with exit 2 and a message on stderr. Runs without any IOT_ variable (nothing is configured).
set -uo pipefail
version=$1; shift
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
failed=0
fail() { echo "FAIL $*"; failed=1; }
for bin in "$@"; do
  name=$(basename "$bin")
  env -i "$bin" --help >"$tmp/out" 2>"$tmp/err"; rc=$?
  ((rc == 0)) || fail "$name --help: exit $rc ($(head -3 "$tmp/err"))"
  grep -q "^usage: $name" "$tmp/out" || fail "$name --help: no usage line ($(head -3 "$tmp/out"))"
  grep -q -- "--version" "$tmp/out" || fail "$name --help: --version not listed"
  env -i "$bin" --version >"$tmp/out" 2>"$tmp/err"; rc=$?
  ((rc == 0)) || fail "$name --version: exit $rc ($(head -3 "$tmp/err"))"
  grep -qE "^$name $version \(commit [0-9A-Za-z._-]+\)$" "$tmp/out" || fail "$name --version: printed '$(cat "$tmp/out")'"
  env -i "$bin" --no-such-option >"$tmp/out" 2>"$tmp/err"; rc=$?
  ((rc == 2)) || fail "$name --no-such-option: exit $rc, not 2"
  grep -q -- "--no-such-option" "$tmp/err" || fail "$name --no-such-option: the error does not name it"
  ((failed)) || echo "ok $name"
done
exit $failed
