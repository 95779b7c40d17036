-- 021: device lifecycle (create, delete, enable, disable) as forwardable messages (issue 26).
--
-- Whoever changes a device (iot-api's REST and CSV import, the gateway's sub-device registration), the
-- transaction that changes it writes one outbox row for the enabled rules of kind "lifecycle" of its
-- product (or of all products): this trigger, so that no path can forget it. The body is the
-- server-side subscription's /{pk}/{dn}/thing/lifecycle message: action, iotId, productKey, deviceName,
-- messageCreateTime. Alibaba also puts the deviceSecret in a create message; here only rules whose
-- admin opted in (include_device_secret) get it: such rules take their own row, with the secret.
-- Like alarms and OTA results, these rows are written by the database, which evaluates no filter.

ALTER TABLE forward_rules ADD COLUMN include_device_secret boolean NOT NULL DEFAULT false;

CREATE FUNCTION iot_device_lifecycle() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  dev      devices;
  act      text;
  plain_rules  bigint[];
  secret_rules bigint[];
  body     jsonb;
BEGIN
  IF TG_OP = 'INSERT' THEN
    dev := NEW; act := 'create';
  ELSIF TG_OP = 'DELETE' THEN
    dev := OLD; act := 'delete';
  ELSIF NEW.enabled IS DISTINCT FROM OLD.enabled THEN
    dev := NEW; act := CASE WHEN NEW.enabled THEN 'enable' ELSE 'disable' END;
  ELSE
    RETURN NULL;
  END IF;
  SELECT array_agg(r.id ORDER BY r.id) FILTER (WHERE NOT (r.include_device_secret AND act = 'create')),
         array_agg(r.id ORDER BY r.id) FILTER (WHERE r.include_device_secret AND act = 'create')
    INTO plain_rules, secret_rules
    FROM forward_rules r
   WHERE r.enabled AND 'lifecycle' = ANY(r.kinds) AND (r.product_key IS NULL OR r.product_key = dev.product_key);
  IF plain_rules IS NULL AND secret_rules IS NULL THEN
    RETURN NULL;  -- the usual case: no rule takes lifecycle messages
  END IF;
  body := jsonb_build_object('action', act, 'iotId', dev.iot_id, 'productKey', dev.product_key,
                             'deviceName', dev.device_name, 'messageCreateTime', iot_ms(iot_now_ms()));
  -- One row for the rules without the secret, one with it for those that opted in (create only).
  INSERT INTO forward_outbox (rule_ids, kind, topic, device_id, product_key, device_name, iot_id, payload)
  SELECT v.rules, 'lifecycle', '/' || dev.product_key || '/' || dev.device_name || '/thing/lifecycle',
         dev.id, dev.product_key, dev.device_name, dev.iot_id, v.payload
    FROM (VALUES (1, plain_rules, body),
                 (2, secret_rules, body || jsonb_build_object('deviceSecret', dev.secret))) AS v(n, rules, payload)
   WHERE v.rules IS NOT NULL
   ORDER BY v.n;
  RETURN NULL;
END $$;
CREATE TRIGGER devices_lifecycle_forwarding AFTER INSERT OR DELETE OR UPDATE OF enabled ON devices
  FOR EACH ROW EXECUTE FUNCTION iot_device_lifecycle();
