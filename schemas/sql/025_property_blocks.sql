-- 025: compacted history (issue 24, step 4): a closed day's property_posts rows of one device become
-- compressed blocks.
--
-- property_posts keeps a row per post and device time (~50 bytes a value with its index entry, 016). Once
-- a day is closed (its end an hour past and its hours rolled up, 023), iot-api's compaction
-- (store::CompactHistory) moves its rows, device by device, into property_blocks: up to 2,048 rows of one
-- device and day a block, column by column and zstd-compressed (libs/series/include/iot/series/block.hpp
-- has the format), a few bytes a value. The rows leave property_posts in the same transaction, so a read
-- sees every value exactly once, as a row or in a block; the emptied day partition is then vacuumed and
-- reindexed to give its space back.
--
-- What stays rows: rows waiting in rollup_pending (late history, merged into the rollups first; the next
-- compaction round takes them and rewrites the device's blocks of that day), and the default partition's
-- rows (timestamps outside every daily partition).
--
-- Reads (store::ListPropertyHistory, AggregateProperty) merge blocks and rows; the answers are the same as
-- before compaction, values byte for byte as jsonb printed them. The property_history view (016) shows
-- rows only: compacted days are not in it.
--
-- Partitioned by day like property_posts (property_blocks_pYYYYMMDD, created and dropped with it by
-- iot-api's maintenance): retention still drops whole days. A block never spans two days; `ts` is its
-- first row's device time, `ts_last` its last one's (a product with a shorter retention loses a block once
-- its last row is past the retention).

CREATE TABLE property_blocks (
  device_id    bigint NOT NULL,
  ts           timestamptz NOT NULL,  -- device time of the block's first row
  id           bigint NOT NULL,       -- and its id: (ts, id) orders a device's blocks like their rows
  ts_last      timestamptz NOT NULL,  -- of its last row (rows are in (ts, id) order)
  rows         integer NOT NULL,
  identifiers  text[] NOT NULL,       -- the identifiers it holds values of
  data         bytea NOT NULL         -- iot::series block (zstd inside)
) PARTITION BY RANGE (ts);
CREATE INDEX property_blocks_device_ts ON property_blocks (device_id, ts, id);
-- Already compressed: no pglz attempt, stored out of line when large.
ALTER TABLE property_blocks ALTER COLUMN data SET STORAGE EXTERNAL;

-- The same daily partitions (and default) as property_posts has now.
DO $$
DECLARE
  p record;
BEGIN
  FOR p IN SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
           FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
           WHERE i.inhparent = 'property_posts'::regclass LOOP
    EXECUTE format('CREATE TABLE %I PARTITION OF property_blocks %s',
                   'property_blocks' || substr(p.name, length('property_posts') + 1), p.bound);
  END LOOP;
END $$;
