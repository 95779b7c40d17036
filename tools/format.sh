#!/usr/bin/env bash
# The repository's C++ formatting and tidy rules (.clang-format, .clang-tidy at the root), applied or checked.
#
#   tools/format.sh [apply [files...]]
#                             clang-tidy's readability-braces-around-statements --fix on every C++ file that
#                             has an unbraced if/for/while/else/do body, then clang-format -i on every C++ file.
#                             Time-bounded (IOT_FORMAT_TIMEOUT_S, default 3600): files whose tidy run has not
#                             started by then are listed and left for the next run (the script is idempotent).
#   tools/format.sh check     clang-format --dry-run -Werror on every C++ file, and clang-tidy (.clang-tidy's
#                             checks) on the C++ files changed against the merge base with main (IOT_FORMAT_BASE,
#                             default main; IOT_FORMAT_TIDY=0 skips tidy); exit 1 when either finds something.
#                             tests/run.sh runs this.
#
# clang-tidy needs the compiler's flags: it reads compile_commands.json of a configured build (IOT_BUILD_DIR,
# default ./build; the top CMakeLists.txt exports it). Headers and files outside the build (fuzz targets) get
# the flags of their nearest neighbour (clang-tidy's interpolation), so every file is its own main file and
# each run edits only that file: parallel runs never touch the same file. Tidy costs 10-30 s per file here,
# which is why the check looks only at changed files while formatting (well under a second per file) covers
# all of them. clang-format 14 cannot insert braces (InsertBraces needs 15): tidy does, clang-format then
# lays the inserted braces out.
set -euo pipefail

IOT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MODE=${1:-apply}
BUILD_DIR=${IOT_BUILD_DIR:-$IOT_ROOT/build}
BASE=${IOT_FORMAT_BASE:-main}
TIMEOUT_S=${IOT_FORMAT_TIMEOUT_S:-3600}
JOBS=${IOT_FORMAT_JOBS:-$(nproc)}
CLANG_FORMAT=${CLANG_FORMAT:-clang-format-14}
CLANG_TIDY=${CLANG_TIDY:-clang-tidy-14}

say() { echo "format: $*" >&2; }
die() { say "$*"; exit 2; }

case $MODE in
  apply | check) ;;
  -h | --help) sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) die "unknown mode '$MODE' (apply or check)" ;;
esac
command -v "$CLANG_FORMAT" >/dev/null || die "$CLANG_FORMAT not found: deploy/install-deps.sh --test installs it"
command -v "$CLANG_TIDY" >/dev/null || die "$CLANG_TIDY not found: deploy/install-deps.sh --test installs it"
cd "$IOT_ROOT"

# Every C++ file of the repository (tracked or new, never ignored ones such as build directories).
cxx_files() {
  git ls-files -z --cached --others --exclude-standard -- '*.cpp' '*.hpp' '*.h' '*.cc' |
    while IFS= read -r -d '' f; do [[ -f $f ]] && printf '%s\0' "$f"; done
}

# A copy of compile_commands.json without what only GCC understands: the precompiled header CMake gives the
# transport target is a GCC .gch that clang cannot read, and the sources compile without it (it holds only
# Boost includes that each file includes itself). Without -Werror too: tidy reports compiler warnings as
# warnings.
tidy_db() {
  local out=$1
  [[ -f $BUILD_DIR/compile_commands.json ]] ||
    die "no $BUILD_DIR/compile_commands.json: configure and build first (tests/run.sh or iot_build), or set IOT_BUILD_DIR"
  mkdir -p "$out"
  local source_dir
  source_dir=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null || true)
  python3 - "$BUILD_DIR/compile_commands.json" "$out/compile_commands.json" "${source_dir:-$IOT_ROOT}" "$IOT_ROOT" \
    "$(cd "$BUILD_DIR" && pwd)" <<'EOF'
import json, re, shlex, sys
entries = json.load(open(sys.argv[1]))
# A build of another checkout of the repository (a scratch copy, the lead's trial worktree) serves too: its
# source paths are mapped onto this one (the build directory's own paths stay).
src, dst, build = sys.argv[3].rstrip("/") + "/", sys.argv[4].rstrip("/") + "/", sys.argv[5].rstrip("/") + "/"
def remap(text):
    return text.replace(build, "\0").replace(src, dst).replace("\0", build)
for e in entries:
    if src != dst:
        for k in ("file", "command"):
            if k in e:
                e[k] = remap(e[k])
        if "arguments" in e:
            e["arguments"] = [remap(a) for a in e["arguments"]]
    args = e["arguments"] if "arguments" in e else shlex.split(e["command"])
    clean, skip = [], False
    for a in args:
        if skip:
            skip = False
            continue
        if a == "-include" or a == "-Xclang":
            skip = True  # -include <cmake_pch.hxx>, -Xclang <pch option>
            continue
        # -Werror would turn clang's own warnings (which GCC does not give) into errors that stop tidy.
        if a.startswith("-Winvalid-pch") or a.startswith("-fpch") or a.startswith("-Werror") or \
                re.match(r"-include.*cmake_pch", a):
            continue
        clean.append(a)
    e.pop("command", None)
    e["arguments"] = clean
json.dump(entries, open(sys.argv[2], "w"))
EOF
}

# Files (NUL-separated on stdin) that contain an if/for/while/else/do whose body has no braces: a cheap
# superset of what readability-braces-around-statements fixes, so tidy (10-30 s a file) runs only where it
# can change something.
unbraced_files() {
  python3 -c '
import re, sys
names = [n for n in sys.stdin.buffer.read().decode().split("\0") if n]
lit = re.compile(r"R\"([^()\\ ]{0,16})\((?:.|\n)*?\)\1\"|//[^\n]*|/\*(?:.|\n)*?\*/|\"(?:\\.|[^\"\\\n])*\"|\x27(?:\\.|[^\x27\\\n])*\x27")
pp = re.compile(r"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", re.M)
kw = re.compile(r"(?<![\w#])(if|for|while|else|do)(?!\w)")
def blank(m):
    return re.sub(r"[^\n]", " ", m.group(0))
def unbraced(text):
    text = pp.sub(blank, lit.sub(blank, text))
    for m in kw.finditer(text):
        i = m.end()
        n = len(text)
        while i < n and text[i].isspace(): i += 1
        if m.group(1) in ("else", "do"):
            if text.startswith("{", i) or (m.group(1) == "else" and re.match(r"if\b", text[i:i + 3])):
                continue
            return True
        if text.startswith("constexpr", i):
            i += len("constexpr")
            while i < n and text[i].isspace(): i += 1
        if i >= n or text[i] != "(":
            continue
        depth = 0
        while i < n:
            depth += text[i] == "("
            depth -= text[i] == ")"
            i += 1
            if depth == 0: break
        while i < n and text[i].isspace(): i += 1
        if i < n and text[i] not in "{;":
            return True
    return False
for name in names:
    try:
        if unbraced(open(name, encoding="utf-8", errors="replace").read()):
            sys.stdout.write(name + "\0")
    except OSError:
        pass
'
}

TMP=$(mktemp -d /tmp/iot-format.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

# run_tidy <config or ""> <fix 0|1> <files...>: one clang-tidy per file, JOBS at a time; files not started
# before the deadline are skipped. Prints a summary; returns 1 when a run failed (errors, or warnings that
# .clang-tidy makes errors), 3 when the deadline cut the run short.
run_tidy() {
  local config=$1 fix=$2; shift 2
  local deadline=$(($(date +%s) + TIMEOUT_S))
  tidy_db "$TMP/db"
  mkdir -p "$TMP/tidy"
  export CLANG_TIDY TMP deadline config fix
  printf '%s\0' "$@" | xargs -0 -r -P "$JOBS" -I{} bash -c '
    f=$1
    key=$(printf "%s" "$f" | tr "/" "_")
    if (( $(date +%s) >= deadline )); then echo "$f" >"$TMP/tidy/$key.skipped"; exit 0; fi
    args=(-p "$TMP/db" --quiet --header-filter="^$")
    [[ -n $config ]] && args+=(--config="$config")
    ((fix)) && args+=(--fix)
    if "$CLANG_TIDY" "${args[@]}" "$f" >"$TMP/tidy/$key.log" 2>&1; then
      echo ok >"$TMP/tidy/$key.rc"
    else
      echo failed >"$TMP/tidy/$key.rc"
    fi' _ {}
  local failed=0 skipped=0 ran=0 log
  for log in "$TMP"/tidy/*.rc; do
    [[ -e $log ]] || continue
    ran=$((ran + 1))
    if [[ $(cat "$log") == failed ]]; then
      failed=$((failed + 1))
      grep -E 'error:|warning:' "${log%.rc}.log" | head -20 >&2 || tail -20 "${log%.rc}.log" >&2
    fi
  done
  for log in "$TMP"/tidy/*.skipped; do [[ -e $log ]] && { skipped=$((skipped + 1)); say "not reached: $(cat "$log")"; }; done
  say "clang-tidy: $ran file(s) run, $failed failed, $skipped not reached within ${TIMEOUT_S}s"
  ((failed == 0)) || return 1
  ((skipped == 0)) || return 3
  return 0
}

started=$(date +%s)
if [[ $MODE == apply ]]; then
  if (($# > 1)); then all=("${@:2}"); else mapfile -d '' all < <(cxx_files); fi
  mapfile -d '' todo < <(printf '%s\0' "${all[@]}" | unbraced_files)
  say "${#all[@]} C++ files; ${#todo[@]} with unbraced statements get clang-tidy's braces ($JOBS at a time)"
  rc=0
  if ((${#todo[@]})); then
    run_tidy '{Checks: "-*,readability-braces-around-statements", WarningsAsErrors: ""}' 1 "${todo[@]}" || rc=$?
  fi
  ((rc == 1)) && say "some clang-tidy runs failed (above); their files keep their unbraced statements"
  printf '%s\0' "${all[@]}" | xargs -0 -r -P "$JOBS" -n 16 "$CLANG_FORMAT" -i
  say "clang-format applied to ${#all[@]} files; done in $(($(date +%s) - started))s"
  exit $((rc == 0 ? 0 : 1))
fi

# check
mapfile -d '' all < <(cxx_files)
fmt_failed=0
if ! printf '%s\0' "${all[@]}" | xargs -0 -r -P "$JOBS" -n 16 "$CLANG_FORMAT" --dry-run -Werror \
    >"$TMP/format.log" 2>&1; then
  mapfile -t bad < <(grep -oE '^[^: ]+\.(cpp|hpp|h|cc):[0-9]+:[0-9]+: error' "$TMP/format.log" | cut -d: -f1 | sort -u)
  fmt_failed=${#bad[@]}
  ((fmt_failed)) || fmt_failed=1
  say "clang-format: $fmt_failed of ${#all[@]} files are not formatted (tools/format.sh applies it), e.g.:"
  printf '  %s\n' "${bad[@]:0:10}" >&2
fi
((fmt_failed)) || say "clang-format: all ${#all[@]} files formatted"

tidy_rc=0
if [[ ${IOT_FORMAT_TIDY:-1} == 0 ]]; then
  say "clang-tidy skipped (IOT_FORMAT_TIDY=0)"
elif merge_base=$(git merge-base HEAD "$BASE" 2>/dev/null); then
  mapfile -d '' changed < <(git diff -z --name-only --diff-filter=ACMR "$merge_base" -- '*.cpp' '*.hpp' '*.h' '*.cc';
                             git ls-files -z --others --exclude-standard -- '*.cpp' '*.hpp' '*.h' '*.cc')
  if ((${#changed[@]})); then
    say "clang-tidy on ${#changed[@]} file(s) changed since $BASE (${merge_base:0:10})"
    run_tidy "" 0 "${changed[@]}" || tidy_rc=$?
  else
    say "clang-tidy: no C++ file changed since $BASE (${merge_base:0:10})"
  fi
else
  say "clang-tidy skipped: no merge base with '$BASE' (set IOT_FORMAT_BASE)"
fi
say "done in $(($(date +%s) - started))s"
((fmt_failed == 0 && tidy_rc == 0))
