-- 022: the forwarding outbox as four rotating slots emptied by TRUNCATE, and its payload as text (issue 26:
-- forwarding's cost on ingest).
--
-- Why. 017's outbox was one table pruned by DELETE. A queue table pruned by DELETE pays for every row three
-- times more (the delete, vacuum of the heap, vacuum of two indexes), and when vacuum falls behind, the dead
-- rows it has not removed yet slow every read and prune that starts at the head of the index. Measured with
-- bench/e2e.sh and one webhook rule on every post: at 14,000-18,000 posts/s the outbox held 800,000 dead
-- rows (545 MB) while it kept ~50,000 live ones, and PostgreSQL spent ~105 µs a post against ~38 without
-- the rule. This is the design of PgQ (Skytools): rows go to the current one of a few tables; a table
-- every consumer has passed is emptied at once by TRUNCATE (no dead rows, no vacuum).
--
-- How:
-- - forward_outbox is partitioned by `slot` (0..3); forward_outbox_state names the current slot and since
--   when. Writers put their rows in the current slot (iot_outbox_slot(); the gateway's batch writer reads
--   it once a statement).
-- - iot_outbox_maintain (run by the forwarders every few seconds) makes the next slot current once the
--   current one is old enough and the next one is empty; then, for every other slot that holds rows, it
--   TRUNCATEs the slot when every rule has taken all its rows (under an ACCESS EXCLUSIVE lock, so no
--   writer that read the old slot number is still inserting into it), else it DELETEs the rows every
--   rule has taken, as 017 did (a rule that is behind, or disabled, keeps only its own rows).
-- - Reading order and the snapshot bound are 017's, unchanged: rows are read in (txid, id) order across
--   the slots (a writer that read the old slot number may commit after rows of the next slot exist).
-- - No primary key: (txid, id) is the one index (dead letters are built from the rows the forwarder read).
--
-- The payload is text: a forwarded body is written once, read once by each rule's forwarder and sent as
-- it is; nothing queries inside it. As jsonb every row was parsed and re-encoded when written (plus a jsonb
-- concatenation for the iotId) and printed again when read: ~10 of the ~36 µs of PostgreSQL CPU an outbox
-- row cost, measured with the outbox's own statements. The triggers of 019, 020 and 021 still build jsonb,
-- which PostgreSQL stores through its text form (an assignment cast). Dead letters stay jsonb.

ALTER TABLE forward_outbox RENAME TO forward_outbox_017;
ALTER INDEX forward_outbox_order RENAME TO forward_outbox_017_order;
ALTER SEQUENCE forward_outbox_id_seq OWNED BY NONE;

CREATE TABLE forward_outbox_state (
  one    boolean PRIMARY KEY DEFAULT true CHECK (one),
  slot   smallint NOT NULL CHECK (slot BETWEEN 0 AND 3),
  since  timestamptz NOT NULL DEFAULT iot_now_ms()
);
INSERT INTO forward_outbox_state (slot) VALUES (0);

CREATE FUNCTION iot_outbox_slot() RETURNS smallint LANGUAGE sql STABLE AS
  'SELECT slot FROM forward_outbox_state';

CREATE TABLE forward_outbox (
  id           bigint NOT NULL DEFAULT nextval('forward_outbox_id_seq'),
  slot         smallint NOT NULL DEFAULT iot_outbox_slot(),
  txid         xid8 NOT NULL DEFAULT pg_current_xact_id(),
  rule_ids     bigint[] NOT NULL,
  kind         text NOT NULL,
  topic        text NOT NULL,
  device_id    bigint NOT NULL,
  product_key  text NOT NULL,
  device_name  text NOT NULL,
  iot_id       text NOT NULL,
  message_id   text NOT NULL DEFAULT '',
  payload      text NOT NULL,                          -- a JSON object, as the gateway or jsonb wrote it
  created_at   timestamptz NOT NULL DEFAULT iot_now_ms()
) PARTITION BY LIST (slot);
CREATE TABLE forward_outbox_0 PARTITION OF forward_outbox FOR VALUES IN (0);
CREATE TABLE forward_outbox_1 PARTITION OF forward_outbox FOR VALUES IN (1);
CREATE TABLE forward_outbox_2 PARTITION OF forward_outbox FOR VALUES IN (2);
CREATE TABLE forward_outbox_3 PARTITION OF forward_outbox FOR VALUES IN (3);
CREATE INDEX forward_outbox_order ON forward_outbox (txid, id);
ALTER SEQUENCE forward_outbox_id_seq OWNED BY forward_outbox.id;

INSERT INTO forward_outbox (id, slot, txid, rule_ids, kind, topic, device_id, product_key, device_name, iot_id,
                            message_id, payload, created_at)
SELECT id, 0, txid, rule_ids, kind, topic, device_id, product_key, device_name, iot_id, message_id,
       payload::text, created_at
  FROM forward_outbox_017 ORDER BY txid, id;
DROP TABLE forward_outbox_017;

-- Returns how many rows it removed. rotate_after_ms: the current slot's least age before the next one
-- becomes current (0 in tests); delete_limit: rows deleted a slot when a slot cannot be truncated.
-- Several forwarders may run it at once: the state row's lock serialises them.
CREATE FUNCTION iot_outbox_maintain(rotate_after_ms bigint, delete_limit integer) RETURNS bigint
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
      -- past it (a rule that is gone has no cursor).
      EXECUTE format('SELECT EXISTS (SELECT 1 FROM forward_cursors c WHERE EXISTS (SELECT 1 FROM '
                     'forward_outbox_%s o WHERE (o.txid, o.id) > (c.txid, c.last_id) AND '
                     'c.rule_id = ANY(o.rule_ids)))', p) INTO busy;
      IF NOT busy THEN
        EXECUTE format('SELECT count(*) FROM forward_outbox_%s', p) INTO n;
        EXECUTE format('TRUNCATE forward_outbox_%s', p);
        removed := removed + n;
        CONTINUE;
      END IF;
      EXECUTE format('DELETE FROM forward_outbox_%1$s WHERE (txid, id) IN (SELECT o.txid, o.id FROM '
                     'forward_outbox_%1$s o WHERE NOT EXISTS (SELECT 1 FROM forward_cursors c WHERE '
                     'c.rule_id = ANY(o.rule_ids) AND (c.txid, c.last_id) < (o.txid, o.id)) '
                     'ORDER BY o.txid, o.id LIMIT $1)', p) USING delete_limit;
      GET DIAGNOSTICS n = ROW_COUNT;
      removed := removed + n;
    EXCEPTION WHEN lock_not_available THEN
      NULL;  -- a long reader or writer holds the slot: next time
    END;
  END LOOP;
  RETURN removed;
END $$;

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'iot_gateway') THEN
    GRANT SELECT, INSERT, DELETE ON forward_outbox TO iot_gateway;
    GRANT SELECT, INSERT, DELETE, TRUNCATE ON forward_outbox_0, forward_outbox_1, forward_outbox_2,
      forward_outbox_3 TO iot_gateway;
    GRANT SELECT, UPDATE ON forward_outbox_state TO iot_gateway;
    GRANT USAGE, SELECT ON forward_outbox_id_seq TO iot_gateway;
  END IF;
END $$;
