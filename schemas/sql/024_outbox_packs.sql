-- 024: packed outbox rows (issue 26: forwarding's cost on ingest).
--
-- Why. One outbox row per forwarded message cost PostgreSQL a heap tuple, an index entry and their WAL
-- for every message: near the ingest ceiling one webhook rule on every post cost ~22 µs of PostgreSQL
-- CPU a post while the whole platform without it cost ~110 (docs/BENCHMARKS.md). Now the gateway's
-- batch writer writes one row per rule and batch transaction (a "pack", up to 256 messages): one tuple,
-- one index entry, and a body large enough for PostgreSQL to compress (lz4) on its way to the heap.
--
-- How:
-- - `n` is the number of messages in a row (1 for every row but packs). A pack has kind 'pack' and its
--   payload holds its messages (kind, topic, device, product key, device name, iotId, body each),
--   encoded by libs/store (outbox_pack.cpp); its other columns are empty.
-- - Message ids. The id sequence now steps by 1024: a row takes `id` from it and its messages are
--   id, id + 1, ..., id + n - 1 (n <= 1024), so every message still has its own stable number (its
--   messageId) and a rule's cursor (txid, last_id) still names the last message it took, also inside
--   a pack. A row is taken by a cursor once (txid, id + n - 1) <= (cursor.txid, cursor.last_id).
-- - Existing rows keep their ids (n = 1); new ids start above them.
-- - Rows written one per message (triggers, replies, lifecycle, replays) are as before.
-- - A pack's topic is NULL: during an upgrade a gateway of the previous release still running (README,
--   "Upgrade": gateways one at a time) may hold a rule's lease; its reader fails on the NULL and retries
--   (the rule waits until a new gateway takes the lease) instead of delivering a pack as one message.

ALTER TABLE forward_outbox ADD COLUMN n integer NOT NULL DEFAULT 1 CHECK (n BETWEEN 1 AND 1024);
ALTER TABLE forward_outbox ALTER COLUMN topic DROP NOT NULL;
ALTER TABLE forward_outbox ADD CONSTRAINT forward_outbox_topic CHECK ((kind = 'pack') = (topic IS NULL));
-- Compressed where a row is large enough to be (packs); pglz, the default, costs several times the CPU.
ALTER TABLE forward_outbox ALTER COLUMN payload SET COMPRESSION lz4;
DO $$
DECLARE
  p text;
BEGIN
  FOREACH p IN ARRAY ARRAY['forward_outbox_0', 'forward_outbox_1', 'forward_outbox_2', 'forward_outbox_3'] LOOP
    EXECUTE format('ALTER TABLE %I ALTER COLUMN payload SET COMPRESSION lz4', p);
  END LOOP;
END $$;

ALTER SEQUENCE forward_outbox_id_seq INCREMENT BY 1024;
SELECT setval('forward_outbox_id_seq', (s.last_value / 1024 + 1) * 1024, false)
  FROM forward_outbox_id_seq s;

-- 022's, with a row taken once its last message is.
CREATE OR REPLACE FUNCTION iot_outbox_maintain(rotate_after_ms bigint, delete_limit integer) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  cur      smallint;
  since_at timestamptz;
  p        smallint;
  busy     boolean;
  n        bigint;
  removed  bigint := 0;
BEGIN
  SELECT s.slot, s.since INTO cur, since_at FROM forward_outbox_state s FOR UPDATE;
  IF since_at <= iot_now_ms() - rotate_after_ms * interval '1 millisecond' THEN
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM forward_outbox_%s)', (cur + 1) % 4) INTO busy;
    IF NOT busy THEN
      cur := (cur + 1) % 4;
      UPDATE forward_outbox_state SET slot = cur, since = iot_now_ms();
    END IF;
  END IF;
  -- Waiting for a lock would stall the writers and readers queued behind it: try, else next time.
  PERFORM set_config('lock_timeout', '100ms', true);
  FOR p IN 0..3 LOOP
    CONTINUE WHEN p = cur;
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM forward_outbox_%s)', p) INTO busy;
    CONTINUE WHEN NOT busy;
    BEGIN
      EXECUTE format('LOCK TABLE forward_outbox_%s IN ACCESS EXCLUSIVE MODE', p);
      -- With the lock, every row in the slot is committed. Taken: each of its rules has a cursor at or
      -- past its last message (a rule that is gone has no cursor).
      EXECUTE format('SELECT EXISTS (SELECT 1 FROM forward_cursors c WHERE EXISTS (SELECT 1 FROM '
                     'forward_outbox_%s o WHERE (o.txid, o.id + o.n - 1) > (c.txid, c.last_id) AND '
                     'c.rule_id = ANY(o.rule_ids)))', p) INTO busy;
      IF NOT busy THEN
        EXECUTE format('SELECT count(*) FROM forward_outbox_%s', p) INTO n;
        EXECUTE format('TRUNCATE forward_outbox_%s', p);
        removed := removed + n;
        CONTINUE;
      END IF;
      EXECUTE format('DELETE FROM forward_outbox_%1$s WHERE (txid, id) IN (SELECT o.txid, o.id FROM '
                     'forward_outbox_%1$s o WHERE NOT EXISTS (SELECT 1 FROM forward_cursors c WHERE '
                     'c.rule_id = ANY(o.rule_ids) AND (c.txid, c.last_id) < (o.txid, o.id + o.n - 1)) '
                     'ORDER BY o.txid, o.id LIMIT $1)', p) USING delete_limit;
      GET DIAGNOSTICS n = ROW_COUNT;
      removed := removed + n;
    EXCEPTION WHEN lock_not_available THEN
      NULL;  -- a long reader or writer holds the slot: next time
    END;
  END LOOP;
  RETURN removed;
END $$;
