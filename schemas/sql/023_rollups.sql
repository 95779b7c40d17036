-- 023: hourly rollups of numeric property values (issue 24, step 3).
--
-- property_rollups: per device, identifier and UTC hour the count, sum, min, max, first and last of the
-- numeric values (first and last by device time, then id, like the aggregate read from raw rows). Any
-- aggregate whose interval is a whole number of hours reads the hours it covers from here (a year of one
-- property is 8,760 rows) and only the partial hours at its edges from property_posts. Rollups outlive
-- the raw rows: their own retention (iot-api's IOT_ROLLUP_RETENTION_DAYS, default 400) drops whole months.
--
-- Who writes what (store::RollUp, run by iot-api every few seconds; one process at a time):
--   rollup_state.rolled_until  hours before it are in property_rollups;
--   rollup_state.closed_until  rows with an earlier device time are "late": the trigger below lists
--                              each in rollup_pending as it is inserted, and RollUp merges them into
--                              their hour (so late history posts are absorbed, even into hours whose raw
--                              partition retention has dropped);
--   rollup_state.barrier       after closed_until moves, the hours up to it are rolled from raw rows
--                              only once every transaction that might have inserted a row there without
--                              seeing the new closed_until has ended: barrier is the xmax of a snapshot
--                              taken after the move committed, and rolling waits for the oldest running
--                              transaction to be newer. The trigger reads closed_until after its
--                              statement has inserted (so its transaction already has an id).
--   rollup_state.kept_from     the rollups' retention: hours before it are read from raw rows (while
--                              retention keeps them), never from rollups.
-- Reads add, for the rolled hours, the rows still in rollup_pending, so an answer is exact at any time.
-- Existing data needs no copy here (a scan for the oldest value would hold the upgrade up): rolled_until
-- starts at -infinity, RollUp finds the oldest stored hour and works through the history a day of hours
-- at a time in the background.

CREATE TABLE property_rollups (
  device_id   bigint NOT NULL,
  identifier  text NOT NULL,
  hour        timestamptz NOT NULL,
  count       bigint NOT NULL,
  sum         float8 NOT NULL,
  min         float8 NOT NULL,
  max         float8 NOT NULL,
  first       float8 NOT NULL,
  first_ts    timestamptz NOT NULL,
  first_id    bigint NOT NULL,
  last        float8 NOT NULL,
  last_ts     timestamptz NOT NULL,
  last_id     bigint NOT NULL,
  PRIMARY KEY (device_id, identifier, hour)
) PARTITION BY RANGE (hour);
-- Monthly partitions property_rollups_pYYYYMM, created by RollUp before it writes into a month and dropped
-- whole by its retention. Rows are written hour after hour: a BRIN index finds an hour's rows for the
-- daily level below.
CREATE INDEX property_rollups_hour_brin ON property_rollups USING brin (hour) WITH (pages_per_range = 16);

-- The same per UTC day, recomputed from the hourly rows whenever an hour of the day is rolled or a late
-- row merged into one (in the same transaction): a year of one property is 366 rows, where the hourly rows
-- of one series lie one or two to a page among the other series'. Partitioned like the hourly table
-- (property_rollups_daily_pYYYYMM, created and dropped with it).
CREATE TABLE property_rollups_daily (LIKE property_rollups INCLUDING DEFAULTS) PARTITION BY RANGE (hour);
ALTER TABLE property_rollups_daily ADD PRIMARY KEY (device_id, identifier, hour);
COMMENT ON COLUMN property_rollups_daily.hour IS 'the UTC day''s first hour';

CREATE TABLE rollup_pending (
  device_id  bigint NOT NULL,
  ts         timestamptz NOT NULL,
  id         bigint NOT NULL
);
CREATE INDEX rollup_pending_device_ts ON rollup_pending (device_id, ts);

CREATE TABLE rollup_state (
  only_row      boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  rolled_until  timestamptz NOT NULL,
  closed_until  timestamptz NOT NULL,
  barrier       xid8,
  kept_from     timestamptz NOT NULL DEFAULT '-infinity'
);
INSERT INTO rollup_state (rolled_until, closed_until) VALUES ('-infinity', '-infinity');

-- Rolling an hour range reads it by device time from every partition: a BRIN index makes that a read of
-- the range's blocks (rows arrive roughly in time order) for a few bytes per thousand rows and next to
-- nothing per insert.
CREATE INDEX property_posts_ts_brin ON property_posts USING brin (ts) WITH (pages_per_range = 32,
                                                                            autosummarize = on);

CREATE FUNCTION iot_rollup_mark_late() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO rollup_pending (device_id, ts, id)
  SELECT n.device_id, n.ts, n.id FROM new_posts n
  WHERE n.ts < (SELECT closed_until FROM rollup_state);
  RETURN NULL;
END $$;
CREATE TRIGGER property_posts_rollup_late AFTER INSERT ON property_posts
  REFERENCING NEW TABLE AS new_posts FOR EACH STATEMENT EXECUTE FUNCTION iot_rollup_mark_late();

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'iot_gateway') THEN
    GRANT SELECT ON rollup_state TO iot_gateway;
    GRANT INSERT ON rollup_pending TO iot_gateway;
  END IF;
END $$;
