-- 019: alarms. Conditions on live data per product (alarm_rules), the alarms they raise with their
-- lifecycle (active -> acknowledged -> cleared), and the "for N s" conditions that have started holding
-- (alarm_pending, so a restart of every service loses nothing).
--
-- The gateway evaluates a product's enabled rules in the batch transaction that stores the post they
-- react to (libs/store TelemetryWriter, rules compiled in iot-gateway): a property rule on the device's
-- latest values with the post applied, an event rule on the post's events. It sweeps alarm_pending every
-- second for conditions that held long enough without a post arriving. iot-api acknowledges and clears
-- by hand. Every change of an alarm's state is announced by the trigger below: on the live stream and,
-- for forwarding rules of kind "alarm", as an outbox row, both in the transaction of the change.

CREATE TABLE alarm_rules (
  id           bigserial PRIMARY KEY,
  product_key  text NOT NULL REFERENCES products ON DELETE CASCADE,
  name         text NOT NULL CHECK (name <> '' AND length(name) <= 128),
  severity     text NOT NULL CHECK (severity IN ('info', 'minor', 'major', 'critical')),
  enabled      boolean NOT NULL DEFAULT true,
  when_expr    text NOT NULL DEFAULT '',               -- libs/expr; '' for an event rule
  for_s        integer NOT NULL DEFAULT 0 CHECK (for_s BETWEEN 0 AND 86400),
  clear_when   text NOT NULL DEFAULT '',               -- libs/expr; '' = when `when` no longer holds
  event        text NOT NULL DEFAULT '',               -- event identifier, or "alert" / "error" (its type)
  created_at   timestamptz NOT NULL DEFAULT iot_now_ms(),
  updated_at   timestamptz NOT NULL DEFAULT iot_now_ms(),
  created_by   text NOT NULL DEFAULT '',
  CHECK ((when_expr <> '') <> (event <> '')),
  CHECK (event = '' OR (for_s = 0 AND clear_when = ''))
);
CREATE INDEX alarm_rules_product ON alarm_rules (product_key, id);

-- The gateways reload a product's rules on this notification (payload: the product key).
CREATE FUNCTION iot_notify_alarm_rule() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('iot_alarm_rule', CASE WHEN TG_OP = 'DELETE' THEN OLD.product_key ELSE NEW.product_key END);
  RETURN NULL;
END $$;
CREATE TRIGGER alarm_rules_notify AFTER INSERT OR UPDATE OR DELETE ON alarm_rules
  FOR EACH ROW EXECUTE FUNCTION iot_notify_alarm_rule();

-- An alarm: one row per raise. Repeats while it is not cleared count up (count, last_value); once
-- cleared it is history and the next raise is a new row. The partial unique index makes one open
-- (active or acknowledged) alarm per rule and device: writers of several gateways insert with
-- ON CONFLICT on it, so they can never duplicate one.
CREATE TABLE alarms (
  id          bigserial PRIMARY KEY,
  rule_id     bigint NOT NULL REFERENCES alarm_rules ON DELETE CASCADE,
  device_id   bigint NOT NULL REFERENCES devices ON DELETE CASCADE,
  rule_name   text NOT NULL,                         -- the rule's name when raised
  severity    text NOT NULL,                         -- the rule's severity when raised
  state       text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'acknowledged', 'cleared')),
  count       bigint NOT NULL DEFAULT 1,
  raised_at   timestamptz NOT NULL,
  acked_at    timestamptz,
  acked_by    text,
  cleared_at  timestamptz,
  cleared_by  text,                                  -- '' when its clear condition held
  last_value  jsonb NOT NULL DEFAULT '{}',
  updated_at  timestamptz NOT NULL DEFAULT iot_now_ms()
);
CREATE UNIQUE INDEX alarms_open ON alarms (rule_id, device_id) WHERE state <> 'cleared';
CREATE INDEX alarms_device ON alarms (device_id, id);
CREATE INDEX alarms_list ON alarms ((state = 'cleared'), id DESC);

-- "for N s": the condition of (rule, device) has held since `since` (server time of the first post
-- showing it); deleted when a post shows it no longer holds, or when the alarm is raised.
CREATE TABLE alarm_pending (
  rule_id     bigint NOT NULL REFERENCES alarm_rules ON DELETE CASCADE,
  device_id   bigint NOT NULL REFERENCES devices ON DELETE CASCADE,
  since       timestamptz NOT NULL,
  last_value  jsonb NOT NULL DEFAULT '{}',
  PRIMARY KEY (rule_id, device_id)
);

-- Announces a change of state (raised, acknowledged, cleared), never a repeat: on the live stream
-- ("a <device_id> <time_ms> <alarm JSON>", iot/store/stream.hpp) and, for every enabled forwarding rule
-- of kind "alarm" of the device's product (or of every product), as one outbox row (017), in the
-- transaction of the change. Forwarding rules of kind "alarm" take no filter (iot-api refuses one).
CREATE FUNCTION iot_alarm_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  change  text;
  dev     record;
  data    jsonb;
  head    text;
  rules   bigint[];
BEGIN
  IF TG_OP = 'INSERT' THEN
    change := 'raised';
  ELSIF NEW.state IS DISTINCT FROM OLD.state THEN
    change := NEW.state;
  ELSE
    RETURN NULL;
  END IF;
  SELECT d.product_key, d.device_name, d.iot_id INTO dev FROM devices d WHERE d.id = NEW.device_id;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  data := jsonb_build_object(
    'id', NEW.id, 'ruleId', NEW.rule_id, 'rule', NEW.rule_name, 'productKey', dev.product_key,
    'deviceName', dev.device_name, 'severity', NEW.severity, 'state', NEW.state, 'change', change,
    'count', NEW.count, 'raisedAt', iot_ms(NEW.raised_at), 'ackedAt', iot_ms(NEW.acked_at),
    'ackedBy', NEW.acked_by, 'clearedAt', iot_ms(NEW.cleared_at), 'clearedBy', NEW.cleared_by,
    'lastValue', NEW.last_value);
  head := 'a ' || NEW.device_id || ' ' || iot_ms(clock_timestamp()) || ' ';
  IF octet_length(head || data::text) > 7900 THEN
    PERFORM pg_notify('iot_stream', head || (data - 'lastValue' || jsonb_build_object('truncated', true))::text);
  ELSE
    PERFORM pg_notify('iot_stream', head || data::text);
  END IF;
  SELECT array_agg(r.id ORDER BY r.id) INTO rules FROM forward_rules r
   WHERE r.enabled AND 'alarm' = ANY(r.kinds) AND (r.product_key IS NULL OR r.product_key = dev.product_key);
  IF rules IS NOT NULL THEN
    INSERT INTO forward_outbox (rule_ids, kind, topic, device_id, product_key, device_name, iot_id, payload)
    VALUES (rules, 'alarm', '/' || dev.product_key || '/' || dev.device_name || '/thing/alarm/' || change,
            NEW.device_id, dev.product_key, dev.device_name, dev.iot_id,
            data || jsonb_build_object('iotId', dev.iot_id, 'gmtCreate', iot_ms(iot_now_ms())));
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER alarms_changed AFTER INSERT OR UPDATE ON alarms
  FOR EACH ROW EXECUTE FUNCTION iot_alarm_changed();

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'iot_gateway') THEN
    GRANT SELECT ON alarm_rules TO iot_gateway;
    GRANT SELECT, INSERT, UPDATE ON alarms TO iot_gateway;
    GRANT SELECT, INSERT, UPDATE, DELETE ON alarm_pending TO iot_gateway;
    GRANT USAGE, SELECT ON alarms_id_seq TO iot_gateway;
  END IF;
END $$;
