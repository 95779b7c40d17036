#!/usr/bin/env bash
# Bytes per stored property value (issue 24). A benchmark, never a test.
#
# For each store-writer benchmark binary given, starts a fresh private PostgreSQL 15 (durability settings
# on) on a free port, lets that binary migrate it and fill it through the store's TelemetryWriter with the
# benchmark's posts (bench_store_writer: 1,000 devices, 5 numeric values per post, batches of 500 posts,
# 5 s of writes), then VACUUMs, CHECKPOINTs and reports per stored value (5 x the stored messages):
#   history  every partition of the history table (property_posts, property_history before migration
#            016): heap, TOAST and indexes (pg_total_relation_size); history_rows its rows (after VACUUM)
#   latest   the latest values (device_latest, or latest_properties before migration 016)
#   dedupe   message_dedupe with its indexes
# plus the binary's own write figures (messages/s, PostgreSQL CPU per message: every postgres process of
# the machine, so meaningless while other clusters run). Binaries of two trees
# (before and after a storage change) run one after the other in one invocation: a side-by-side run.
#
#   bench/storage_bytes.sh before=/path/to/old/bench_store_writer after=build/bench/bench_store_writer
#   IOT_BYTES_COMPACT=build/bench/compact/iot-compact-bench bench/storage_bytes.sh after=build/bench/bench_store_writer
#
# With IOT_BYTES_COMPACT (the path of iot-compact-bench), each label also gets a "<label>/compacted" line: the
# same data rolled up and compacted as two days later (issue 24, step 4), its history being property_posts and
# property_blocks, plus the rollups (property_rollups, property_rollups_daily) in the total.
#
# Settings (environment): IOT_KEEP_TMP=1 keeps the data directories and logs.
set -euo pipefail

IOT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=../deploy/lib/platform.sh
source "$IOT_ROOT/deploy/lib/platform.sh"

(($# > 0)) || iot_die "usage: bench/storage_bytes.sh LABEL=path/to/bench_store_writer [LABEL=...]"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/iot-bytes.XXXXXX")
chmod 755 "$TMP"
PG_DATA=
cleanup() {
  local rc=$?
  [[ -n $PG_DATA ]] && iot_pg_stop "$PG_DATA"
  if [[ ${IOT_KEEP_TMP:-0} == 1 || $rc -ne 0 ]]; then
    iot_say "logs kept in $TMP"
  else
    rm -rf "$TMP"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export PGOPTIONS="-c client_min_messages=warning"
printf '%-10s %10s %14s %12s %12s %12s %12s %10s %12s\n' label values history_B/v latest_B/v dedupe_B/v \
  total_B/v history_rows msgs/s pg_cpu_us/msg
for arg in "$@"; do
  label=${arg%%=*}
  bin=${arg#*=}
  [[ -x $bin ]] || iot_die "$label: $bin is not an executable"
  PG_DATA=$TMP/$label/pg
  port=$(iot_free_port)
  iot_pg_init "$PG_DATA" 1
  iot_pg_start "$PG_DATA" "$port" "$TMP/$label/pg.log"
  iot_pg_psql "$PG_DATA" "$port" postgres -c "CREATE DATABASE bench"
  IOT_BENCH_PG_DSN=$(iot_pg_dsn "$PG_DATA" "$port" postgres bench) \
    "$bin" --benchmark_filter='BM_WriteBatch/500' --benchmark_format=json >"$TMP/$label/bench.json" \
    2>"$TMP/$label/bench.log" || iot_die "$label: the benchmark failed (log: $TMP/$label/bench.log)"
  psql_bench=(iot_pg_psql "$PG_DATA" "$port" bench)
  "${psql_bench[@]}" -c "VACUUM" -c "CHECKPOINT"
  row=$("${psql_bench[@]}" -F ' ' -c "
    WITH v AS (SELECT 5 * count(*)::numeric AS n FROM message_dedupe),
         t AS (SELECT coalesce(to_regclass('property_posts'), to_regclass('property_history')) AS rel),
         h AS (SELECT sum(pg_total_relation_size(relid))::numeric AS b FROM t, pg_partition_tree(t.rel)
               WHERE isleaf),
         l AS (SELECT pg_total_relation_size(coalesce(to_regclass('device_latest'),
                                                      to_regclass('latest_properties')))::numeric AS b),
         d AS (SELECT pg_total_relation_size('message_dedupe')::numeric AS b),
         r AS (SELECT sum((SELECT reltuples FROM pg_class WHERE oid = relid))::bigint AS n
               FROM t, pg_partition_tree(t.rel) WHERE isleaf)
    SELECT v.n, round(h.b / v.n, 1), round(l.b / v.n, 1), round(d.b / v.n, 1),
           round((h.b + l.b + d.b) / v.n, 1), r.n FROM v, h, l, d, r")
  write=$(python3 -c '
import json, sys
b = [x for x in json.load(open(sys.argv[1]))["benchmarks"] if x.get("run_type") == "iteration"][0]
print(round(b["msgs_per_s"]), round(b["pg_cpu_us_per_msg"], 1))' "$TMP/$label/bench.json")
  # shellcheck disable=SC2086
  printf '%-10s %10s %14s %12s %12s %12s %12s %10s %12s\n' "$label" $row $write
  if [[ -n ${IOT_BYTES_COMPACT:-} ]]; then
    "$IOT_BYTES_COMPACT" --days 2 --dsn "$(iot_pg_dsn "$PG_DATA" "$port" postgres bench)" >"$TMP/$label/compact.json" ||
      iot_die "$label: iot-compact-bench failed"
    "${psql_bench[@]}" -c "VACUUM" -c "CHECKPOINT"
    row=$("${psql_bench[@]}" -F ' ' -c "
      WITH v AS (SELECT sum(rows) * 5::numeric AS n FROM property_blocks),
           h AS (SELECT sum(pg_total_relation_size(relid))::numeric AS b FROM pg_partition_tree('property_posts')
                 WHERE isleaf UNION ALL SELECT sum(pg_total_relation_size(relid))::numeric
                 FROM pg_partition_tree('property_blocks') WHERE isleaf),
           r AS (SELECT sum(pg_total_relation_size(relid))::numeric AS b FROM pg_partition_tree('property_rollups')
                 WHERE isleaf UNION ALL SELECT sum(pg_total_relation_size(relid))::numeric
                 FROM pg_partition_tree('property_rollups_daily') WHERE isleaf),
           l AS (SELECT pg_total_relation_size('device_latest')::numeric AS b),
           d AS (SELECT pg_total_relation_size('message_dedupe')::numeric AS b)
      SELECT v.n, round((SELECT sum(b) FROM h) / v.n, 2), round(l.b / v.n, 2), round(d.b / v.n, 2),
             round(((SELECT sum(b) FROM h) + (SELECT sum(b) FROM r) + l.b + d.b) / v.n, 2),
             round((SELECT sum(b) FROM r) / v.n, 2) FROM v, l, d")
    # shellcheck disable=SC2086
    printf '%-10s %10s %14s %12s %12s %12s   (rollups %s B/v of it; %s)\n' "$label/compacted" $row \
      "$(python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); print("%d blocks, %.2f B/value of block data, %.1f s" % (c["blocks"], c["blockBytes"] / max(c["values"], 1), c["compactionSeconds"]))' "$TMP/$label/compact.json")"
  fi
  iot_pg_stop "$PG_DATA"
  PG_DATA=
done
