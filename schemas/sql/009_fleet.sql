-- 009: bringing a fleet in as it is (issue 19).
--  * devices.iot_id: Alibaba's iotId, an immutable identifier assigned at creation (kept on import when
--    given); existing devices get one here.
--  * devices.registration_reset_at: dynamic registration of an activated device is allowed again after an
--    operator reset (until the device next comes online).
--  * products.product_secret / dynamic_registration: one-product-one-secret registration, off by default.

-- n random characters [A-Za-z0-9] (identifiers, not secrets: the services generate secrets themselves).
CREATE FUNCTION iot_random_alnum(n integer) RETURNS text
  LANGUAGE sql VOLATILE
  AS $$ SELECT string_agg(substr('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789',
                                 1 + floor(random() * 62)::integer, 1), '')
        FROM generate_series(1, n) $$;

ALTER TABLE devices ADD COLUMN iot_id text;
UPDATE devices SET iot_id = iot_random_alnum(26);
ALTER TABLE devices ALTER COLUMN iot_id SET DEFAULT iot_random_alnum(26);
ALTER TABLE devices ALTER COLUMN iot_id SET NOT NULL;
CREATE UNIQUE INDEX devices_iot_id ON devices (iot_id);

-- The identifier never changes once assigned.
CREATE FUNCTION iot_keep_iot_id() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.iot_id IS DISTINCT FROM OLD.iot_id THEN
    RAISE EXCEPTION 'iotId is immutable' USING ERRCODE = '23514';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER devices_keep_iot_id BEFORE UPDATE OF iot_id ON devices
  FOR EACH ROW EXECUTE FUNCTION iot_keep_iot_id();

ALTER TABLE devices ADD COLUMN registration_reset_at timestamptz;

ALTER TABLE products ADD COLUMN product_secret text NOT NULL DEFAULT iot_random_alnum(16);
ALTER TABLE products ADD COLUMN dynamic_registration boolean NOT NULL DEFAULT false;

-- The broker plugin also follows registration resets (it answers MQTT registration from memory).
CREATE OR REPLACE FUNCTION iot_notify_device() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM pg_notify('iot_device', OLD.product_key || '/' || OLD.device_name);
  ELSIF TG_OP = 'INSERT' OR NEW.enabled IS DISTINCT FROM OLD.enabled OR NEW.secret IS DISTINCT FROM OLD.secret
        OR NEW.registration_reset_at IS DISTINCT FROM OLD.registration_reset_at THEN
    PERFORM pg_notify('iot_device', NEW.product_key || '/' || NEW.device_name);
  END IF;
  IF TG_OP = 'UPDATE' AND NEW.status IS DISTINCT FROM OLD.status THEN
    PERFORM pg_notify('iot_device_status', NEW.product_key || '/' || NEW.device_name || '/' || NEW.status);
  END IF;
  RETURN NULL;
END $$;
