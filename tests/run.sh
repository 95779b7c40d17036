#!/usr/bin/env bash
# Installs dependencies, builds, starts a throwaway PostgreSQL and Mosquitto on free loopback ports, runs
# every test through ctest (unit and integration), then the fuzz targets for a bounded time. Tears the
# servers down on success, failure or Ctrl-C, and exits non-zero on any failure.
#
# Settings: IOT_BUILD_DIR (default ./build), IOT_BUILD_TYPE (RelWithDebInfo), IOT_FUZZ_SECONDS (15 per
# target; 0 skips fuzzing), IOT_TEST_FILTER (a ctest -R regex), IOT_KEEP_TMP=1 keeps the server directory,
# IOT_TEST_COMPOSE=1 (default when CI=true) also runs tests/compose.sh (images and docker-compose.yml),
# IOT_TEST_STYLE=0 skips the formatting/tidy check (tools/format.sh check; also skipped with IOT_TEST_FILTER).
set -euo pipefail

IOT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=../deploy/lib/platform.sh
source "$IOT_ROOT/deploy/lib/platform.sh"

BUILD_DIR=${IOT_BUILD_DIR:-$IOT_ROOT/build}
BUILD_TYPE=${IOT_BUILD_TYPE:-RelWithDebInfo}
# 15 s a target: a regression guard on every run (9 targets, plus ~150 s to build them); long runs by hand.
FUZZ_SECONDS=${IOT_FUZZ_SECONDS:-15}
started=$(date +%s)
# Seconds per phase, printed last (CI's 45-minute budget: which phase grew shows in every log's tail).
phases=() phase_name=install phase_start=$started
phase() {
  local now; now=$(date +%s)
  phases+=("$phase_name $((now - phase_start))s")
  phase_name=$1 phase_start=$now
}

compose_test=0
[[ ${IOT_TEST_COMPOSE:-} == 1 || (${CI:-} == true && ${IOT_TEST_COMPOSE:-} != 0) ]] && compose_test=1
deps=(--test)
((compose_test)) && deps+=(--docker)
# examples/node too: its tests run the official Node SDK
IOT_INSTALL_EXAMPLES=1 "$IOT_ROOT/deploy/install-deps.sh" "${deps[@]}"

phase build
iot_say "building ($BUILD_TYPE) in $BUILD_DIR"
iot_build "$BUILD_DIR" "$BUILD_TYPE" -DIOT_WERROR=ON
phase console
"$IOT_ROOT/web/build.sh" "$BUILD_DIR/web"  # the console for iot-api and the browser test (cached)
phase servers

TMP=$(mktemp -d /tmp/iot-test.XXXXXX)
chmod 755 "$TMP"
failed=0
failures=()  # one line per failed step, repeated last so that the tail of a CI log names them
cleanup() {
  local rc=$?
  iot_mosquitto_stop "$TMP/mqtt" || true
  iot_pg_stop "$TMP/pg" || true
  if [[ $failed -ne 0 || $rc -ne 0 ]]; then
    # The shared servers' logs, and only those per-test logs that say something went wrong.
    for log in "$TMP"/*.log; do
      [[ -s $log ]] || continue
      case $(basename "$log") in
        postgresql.log | mosquitto.log) ;;
        *) grep -qE 'level=(error|fatal)|FATAL|ERROR|PANIC' "$log" || continue ;;
      esac
      echo "----- $(basename "$log") (last 40 lines)" >&2
      tail -40 "$log" >&2
    done
    [[ $rc -ne 0 && $failed -eq 0 ]] && failures+=("tests/run.sh stopped early (exit $rc): see the output above the logs")
    echo "===== what failed" >&2
    local line
    for line in "${failures[@]}"; do echo "  $line" >&2; done
  fi
  phase end
  echo "phases: ${phases[*]} (total $(( $(date +%s) - started ))s)" >&2
  [[ -n ${tests_line:-} ]] && echo "$tests_line"
  if [[ ${IOT_KEEP_TMP:-0} == 1 ]]; then iot_say "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PG_PORT=$(iot_free_port)
MQTT_PORT=$(iot_free_port)
iot_say "PostgreSQL on 127.0.0.1:$PG_PORT, Mosquitto on 127.0.0.1:$MQTT_PORT ($TMP)"
iot_pg_init "$TMP/pg" 0
iot_pg_start "$TMP/pg" "$PG_PORT" "$TMP/postgresql.log"
iot_mosquitto_conf "$TMP/mqtt" 127.0.0.1 "$MQTT_PORT"
iot_mosquitto_start "$TMP/mqtt" "$MQTT_PORT" "$TMP/mosquitto.log"

# Like deploy/local/run.sh: scram-sha-256 only, no superuser for clients. Tests create a database per
# test case as a role that may create databases and nothing more.
IOT_TEST_PG_DSN=$(iot_pg_test_role "$TMP/pg" "$PG_PORT" iot_test)
export IOT_TEST_PG_DSN
export IOT_TEST_MQTT_HOST=127.0.0.1
export IOT_TEST_MQTT_PORT=$MQTT_PORT
export IOT_TEST_TMP=$TMP

ctest_args=(--test-dir "$BUILD_DIR" --output-on-failure --no-tests=error -j"$(nproc)" --timeout 300)
[[ -n ${IOT_TEST_FILTER:-} ]] && ctest_args+=(-R "$IOT_TEST_FILTER")
ctest_log="$TMP/ctest.out"
phase ctest
set +e
ctest "${ctest_args[@]}" 2>&1 | tee "$ctest_log"
ctest_rc=${PIPESTATUS[0]}
set -e
if [[ $ctest_rc -ne 0 ]]; then
  failed=1
  failures+=("ctest (exit $ctest_rc):")
  while read -r line; do failures+=("  $line"); done < <(sed -n '/The following tests FAILED/,$p' "$ctest_log" | grep -E '^\s*[0-9]+ - ' || true)
  # The console's browser test names its failed steps ("  failed: <step>: <why>"; printed twice by it).
  while read -r line; do failures+=("    browser step $line"); done < <(grep -E '^\s+failed: ' "$ctest_log" | sed -E 's/^\s+//' | cut -c1-300 | sort -u | head -10 || true)
fi
summary=$(grep -E '^[0-9]+% tests passed' "$ctest_log" | tail -1 || true)
passed=0 nfailed=1
if [[ $summary =~ ([0-9]+)\ tests?\ failed\ out\ of\ ([0-9]+) ]]; then
  nfailed=${BASH_REMATCH[1]}
  passed=$((BASH_REMATCH[2] - nfailed))
fi

# Fuzzing: the pure libraries under libFuzzer + ASan + UBSan, each target for a bounded time.
phase fuzz
fuzz_passed=0 fuzz_failed=0
if [[ $FUZZ_SECONDS -gt 0 && -z ${IOT_TEST_FILTER:-} ]] && command -v clang++-14 >/dev/null; then
  FUZZ_DIR=${BUILD_DIR}-fuzz
  iot_say "building fuzz targets in $FUZZ_DIR"
  if [[ ! -f $FUZZ_DIR/CMakeCache.txt ]]; then
    CC=clang-14 CXX=clang++-14 cmake -S "$IOT_ROOT" -B "$FUZZ_DIR" -DIOT_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      >"$TMP/fuzz-configure.log" 2>&1 || { cat "$TMP/fuzz-configure.log"; failed=1; failures+=("fuzz: configure failed"); exit 1; }
  fi
  if ! cmake --build "$FUZZ_DIR" -j"$(nproc)" >"$TMP/fuzz-build.log" 2>&1; then
    tail -50 "$TMP/fuzz-build.log"
    failed=1
    failures+=("fuzz: build failed:")
    while read -r line; do failures+=("  $line"); done < <(grep -E 'error:' "$TMP/fuzz-build.log" | head -5)
    exit 1
  fi
  for bin in "$FUZZ_DIR"/tests/fuzz/fuzz_*; do
    [[ -x $bin ]] || continue
    name=$(basename "$bin")
    corpus="$TMP/corpus-$name"
    mkdir -p "$corpus"
    # Seeds of fuzz_<lib>_<what> (read, never written): tests/fixtures/<lib>/fuzz_seeds/<what> and/or
    # tests/fuzz/corpus/<lib>_<what>, whichever exist.
    target=${name#fuzz_}
    seeds=()
    for dir in "$IOT_ROOT/tests/fixtures/${target%%_*}/fuzz_seeds/${target#*_}" "$IOT_ROOT/tests/fuzz/corpus/$target"; do
      [[ -d $dir ]] && seeds+=("$dir")
    done
    if (cd "$TMP" && "$bin" -max_total_time="$FUZZ_SECONDS" -max_len=65536 -rss_limit_mb=2048 \
          -print_final_stats=1 "$corpus" "${seeds[@]}" >"$TMP/$name.fuzz.log" 2>&1); then
      runs=$(grep -E '^stat::number_of_executed_units' "$TMP/$name.fuzz.log" | awk '{print $2}')
      iot_say "fuzz $name: ok, ${runs:-?} runs in ${FUZZ_SECONDS}s"
      fuzz_passed=$((fuzz_passed + 1))
    else
      iot_say "fuzz $name: FAILED"
      tail -60 "$TMP/$name.fuzz.log" >&2
      cp "$TMP"/crash-* "$TMP"/leak-* "$TMP"/timeout-* "$BUILD_DIR"/ 2>/dev/null || true
      fuzz_failed=$((fuzz_failed + 1))
      failed=1
      failures+=("fuzz $name: $(grep -m1 -E '^==[0-9]+==ERROR|^SUMMARY|deadly signal' "$TMP/$name.fuzz.log" || echo 'see its log above')")
    fi
  done
elif [[ $FUZZ_SECONDS -gt 0 && -z ${IOT_TEST_FILTER:-} ]]; then
  iot_say "clang++-14 not found: fuzz targets skipped"
fi

# Formatting and tidy (tools/format.sh check): clang-format on every C++ file, clang-tidy on the files changed
# against main; one more test in the totals.
style_passed=0 style_failed=0
phase style
if [[ -z ${IOT_TEST_FILTER:-} && ${IOT_TEST_STYLE:-1} == 1 ]]; then
  iot_say "style: tools/format.sh check"
  # CI checks a landed tree: against its own main there is nothing to tidy, and against a main that lags behind
  # the clone it would tidy the whole landing (10-30 s a file); tidy is the developer's check before landing.
  tidy=${IOT_FORMAT_TIDY:-1}
  [[ ${CI:-} == true && -z ${IOT_FORMAT_TIDY:-} ]] && tidy=0
  if IOT_BUILD_DIR=$BUILD_DIR IOT_FORMAT_TIDY=$tidy "$IOT_ROOT/tools/format.sh" check; then
    iot_say "style: ok"; style_passed=1
  else
    iot_say "style: FAILED (tools/format.sh applies the formatting; tidy findings are fixed by hand)"; style_failed=1; failed=1
    failures+=("style: tools/format.sh check (output above)")
  fi
fi

# The platform as containers: images from this build's binaries, docker-compose.yml end to end.
compose_passed=0 compose_failed=0
phase compose
if ((compose_test)); then
  if IOT_BUILD_DIR=$BUILD_DIR IOT_COMPOSE_FAILURE=$TMP/compose.failure "$IOT_ROOT/tests/compose.sh"; then
    compose_passed=1
  else
    compose_failed=1; failed=1
    failures+=("compose: $(cat "$TMP/compose.failure" 2>/dev/null || echo 'tests/compose.sh failed (its output above)')")
  fi
fi

elapsed=$(( $(date +%s) - started ))
total_passed=$(( ${passed:-0} + fuzz_passed + style_passed + compose_passed ))
total_failed=$(( nfailed + fuzz_failed + style_failed + compose_failed ))
iot_say "done in ${elapsed}s"
tests_line="tests: $total_passed passed, $total_failed failed"
exit $failed
