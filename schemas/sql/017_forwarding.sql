-- 017: forwarding rules: data out to applications (webhook), at least once, per device in order.
--
-- A rule names a source (one product or all; message kinds), an optional filter (libs/expr) and its
-- destinations. The gateway keeps the enabled rules in memory (reloaded on the iot_forward_rule
-- notification) and, for a message an enabled rule matches, writes one forward_outbox row in the SAME
-- transaction as the data it describes: a committed message is in the outbox, a rolled-back one is not.
-- Without enabled rules nothing is written. Each rule has a cursor (forward_cursors); a forwarder (in
-- iot-gateway, one lease per rule) reads the rule's rows after its cursor, delivers them, then moves
-- the cursor. Rows every rule has taken are pruned.

CREATE TABLE forward_rules (
  id            bigserial PRIMARY KEY,
  name          text NOT NULL CHECK (name <> '' AND length(name) <= 128),
  enabled       boolean NOT NULL DEFAULT true,
  product_key   text,                                  -- NULL: every product
  kinds         text[] NOT NULL CHECK (cardinality(kinds) > 0),
  filter        text NOT NULL DEFAULT '',              -- libs/expr text; '' = every message
  -- [{"type":"webhook","url":"https://...","secret":"..."}]; secrets are stored here and never
  -- returned by the REST API.
  destinations  jsonb NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT iot_now_ms(),
  updated_at    timestamptz NOT NULL DEFAULT iot_now_ms(),
  created_by    text NOT NULL DEFAULT ''
);

CREATE FUNCTION iot_notify_forward_rule() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('iot_forward_rule', CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END::text);
  RETURN NULL;
END $$;
CREATE TRIGGER forward_rules_notify AFTER INSERT OR UPDATE OR DELETE ON forward_rules
  FOR EACH ROW EXECUTE FUNCTION iot_notify_forward_rule();

-- The outbox. One row per forwarded message, naming every rule that matched it (rule_ids).
--
-- Ordering and the outbox trap: ids come from a sequence when a row is inserted, but transactions
-- commit in another order, so a reader that remembers "last id seen" and reads `id > cursor` skips a
-- row whose transaction took a lower id and committed after the reader passed it. Rows therefore carry
-- their transaction id (txid, pg_current_xact_id(): every row of one transaction has the same one) and
-- a reader reads only rows whose txid is below pg_snapshot_xmin(pg_current_snapshot()): every
-- transaction with a lower xid has ended (committed or rolled back), and every transaction that has not
-- ended, or starts later, has an xid >= that bound. Reading in (txid, id) order below the bound and
-- remembering the last (txid, id) taken therefore never skips a committed row. Per-device order holds:
-- one device's messages are written by one batch writer, one transaction after the other, so its later
-- messages have higher txids (and, within a transaction, higher ids).
-- The cost: a long-running writing transaction anywhere in the cluster holds the bound back, delaying
-- (never losing) forwarding until it ends; read-only transactions have no xid and do not.
CREATE TABLE forward_outbox (
  id           bigserial PRIMARY KEY,
  txid         xid8 NOT NULL DEFAULT pg_current_xact_id(),
  rule_ids     bigint[] NOT NULL,
  kind         text NOT NULL,                          -- property | event | history | status
  topic        text NOT NULL,                          -- the forwarded topic (/{pk}/{dn}/thing/...)
  device_id    bigint NOT NULL,                        -- no foreign key: a message outlives its device
  product_key  text NOT NULL,
  device_name  text NOT NULL,
  iot_id       text NOT NULL,
  message_id   text NOT NULL DEFAULT '',               -- '' = the row's id (a replay keeps the first id)
  payload      jsonb NOT NULL,                         -- the forwarded body (reference format)
  created_at   timestamptz NOT NULL DEFAULT iot_now_ms()
);
CREATE INDEX forward_outbox_order ON forward_outbox (txid, id);

-- Per rule: where it is in the outbox, and what it has done.
CREATE TABLE forward_cursors (
  rule_id            bigint PRIMARY KEY REFERENCES forward_rules ON DELETE CASCADE,
  txid               xid8 NOT NULL DEFAULT '0',          -- last (txid, id) taken
  last_id            bigint NOT NULL DEFAULT 0,
  delivered          bigint NOT NULL DEFAULT 0,          -- messages delivered
  failed             bigint NOT NULL DEFAULT 0,          -- failed delivery attempts
  dead               bigint NOT NULL DEFAULT 0,          -- messages moved to dead letters
  attempts           integer NOT NULL DEFAULT 0,         -- failed attempts of the batch at the cursor
  failing_since      timestamptz,                        -- first failure of that batch
  last_error         text NOT NULL DEFAULT '',
  last_delivered_at  timestamptz
);

-- Messages a rule gave up on (too many attempts, too old, or refused by the destination), until an
-- operator replays (back into the outbox, for that rule only) or the rule is deleted.
CREATE TABLE forward_dead_letters (
  id           bigserial PRIMARY KEY,
  rule_id      bigint NOT NULL REFERENCES forward_rules ON DELETE CASCADE,
  outbox_id    bigint NOT NULL,
  kind         text NOT NULL,
  topic        text NOT NULL,
  device_id    bigint NOT NULL,
  product_key  text NOT NULL,
  device_name  text NOT NULL,
  iot_id       text NOT NULL,
  message_id   text NOT NULL,
  payload      jsonb NOT NULL,
  created_at   timestamptz NOT NULL,                   -- when the message was written
  attempts     integer NOT NULL,
  error        text NOT NULL,
  dead_at      timestamptz NOT NULL DEFAULT iot_now_ms()
);
CREATE INDEX forward_dead_letters_rule ON forward_dead_letters (rule_id, id);

-- The gateway writes the outbox and runs the forwarder. Explicit, whichever role applies this migration
-- (default privileges of 006 cover only tables created by the role that set them).
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'iot_gateway') THEN
    GRANT SELECT ON forward_rules TO iot_gateway;
    GRANT SELECT, INSERT, DELETE ON forward_outbox TO iot_gateway;
    GRANT SELECT, UPDATE ON forward_cursors TO iot_gateway;
    GRANT SELECT, INSERT ON forward_dead_letters TO iot_gateway;
    GRANT USAGE, SELECT ON forward_outbox_id_seq, forward_dead_letters_id_seq TO iot_gateway;
    GRANT SELECT, INSERT, UPDATE, DELETE ON leases TO iot_gateway;
  END IF;
END $$;
