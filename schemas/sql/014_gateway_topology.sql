-- 014: gateways and sub-devices (issue 22). A sub-device belongs to at most one gateway
-- (the primary key); a gateway holds at most 1,500 sub-devices (store::AddTopology counts under
-- a lock on the gateway's row). Every change notifies iot_device with the sub-device's
-- product_key/device_name, so the broker plugin's in-memory directory (which knows each device's
-- gateway) and the gateway service's cache pick it up like any other device change.
CREATE TABLE device_topology (
  device_id   bigint PRIMARY KEY REFERENCES devices ON DELETE CASCADE,   -- the sub-device
  gateway_id  bigint NOT NULL REFERENCES devices ON DELETE CASCADE,
  created_at  timestamptz NOT NULL DEFAULT iot_now_ms(),
  CHECK (device_id <> gateway_id)
);
CREATE INDEX device_topology_gateway ON device_topology (gateway_id, device_id);

CREATE FUNCTION device_topology_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('DELETE', 'UPDATE') THEN
    PERFORM pg_notify('iot_device', d.product_key || '/' || d.device_name) FROM devices d WHERE d.id = OLD.device_id;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    PERFORM pg_notify('iot_device', d.product_key || '/' || d.device_name) FROM devices d WHERE d.id = NEW.device_id;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER device_topology_notify AFTER INSERT OR UPDATE OR DELETE ON device_topology
  FOR EACH ROW EXECUTE FUNCTION device_topology_notify();

-- Sub-devices a gateway reported with thing.list.found (it discovered them; an operator may then add
-- them to its topology). At most 1,500 per gateway, the newest kept (store::RecordFoundDevices).
CREATE TABLE device_found (
  gateway_id   bigint NOT NULL REFERENCES devices ON DELETE CASCADE,
  product_key  text NOT NULL,
  device_name  text NOT NULL,
  found_at     timestamptz NOT NULL DEFAULT iot_now_ms(),
  PRIMARY KEY (gateway_id, product_key, device_name)
);

-- The gateway changes topologies (thing.topo.add / delete); the broker plugin reads them with the
-- devices (each device's gateway). Explicit, whichever role applies this migration.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'iot_gateway') THEN
    GRANT SELECT, INSERT, UPDATE, DELETE ON device_topology, device_found TO iot_gateway;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'iot_broker') THEN
    GRANT SELECT ON device_topology TO iot_broker;
  END IF;
END $$;
