-- 005: ingest tuning found by bench/e2e.sh.
-- iot_ts() was declared IMMUTABLE over a STABLE body (timestamptz + interval), so PostgreSQL never
-- inlined it and ran a nested SQL function call for every row it touched; to_timestamp(double) is
-- immutable, gives the same microsecond value for every millisecond time, and inlines.
CREATE OR REPLACE FUNCTION iot_ts(ms bigint) RETURNS timestamptz
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT to_timestamp(ms / 1000.0) $$;
-- latest_properties is one row per (device, property), updated on every post: room on each page keeps
-- those updates HOT (no index churn, less bloat).
ALTER TABLE latest_properties SET (fillfactor = 30);
