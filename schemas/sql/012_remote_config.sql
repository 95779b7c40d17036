-- 012: remote configuration (Alink thing.config.get / thing.config.push).
-- Per product a remote_config switch and a JSON configuration file with versions. The file is kept as
-- the exact text the operator uploaded (its SHA-256 is what devices check), at most 64 KB. Every
-- upload is a new version; the newest is the current one. Uploads notify iot_product (payload: the
-- product key) like a product change, so the gateway's and iot-api's product caches reload the
-- switch and the current file's metadata.
ALTER TABLE products ADD COLUMN remote_config boolean NOT NULL DEFAULT false;

CREATE TABLE product_configs (
  config_id    text PRIMARY KEY,             -- 32 lowercase hex characters, random
  product_key  text NOT NULL REFERENCES products ON DELETE CASCADE,
  version      integer NOT NULL CHECK (version >= 1),
  content      text NOT NULL CHECK (octet_length(content) <= 65536),
  size         integer NOT NULL,
  sha256       text NOT NULL,                -- lowercase hex of the content's SHA-256
  created_at   timestamptz NOT NULL DEFAULT iot_now_ms(),
  created_by   text NOT NULL DEFAULT '',
  UNIQUE (product_key, version)
);

CREATE FUNCTION iot_notify_product_config() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('iot_product', NEW.product_key);
  RETURN NULL;
END $$;
CREATE TRIGGER product_configs_notify AFTER INSERT ON product_configs
  FOR EACH ROW EXECUTE FUNCTION iot_notify_product_config();

-- Keys that sign download links handed to devices (configuration files now, firmware later): created
-- once by the first service that needs one (iot-api or iot-gateway, INSERT ... ON CONFLICT DO
-- NOTHING, 32 random bytes from the service's CSPRNG) and read by every instance. The broker plugin's
-- role cannot read it.
CREATE TABLE url_signing_keys (
  name        text PRIMARY KEY,
  key_hex     text NOT NULL CHECK (length(key_hex) >= 64),
  created_at  timestamptz NOT NULL DEFAULT iot_now_ms()
);

-- The gateway reads the current file's metadata and the link-signing key (creating the key when it is
-- the first to need it). Explicit, whichever role applies this migration (default privileges of 006
-- cover only tables created by the role that set them).
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'iot_gateway') THEN
    GRANT SELECT ON product_configs TO iot_gateway;
    GRANT SELECT, INSERT ON url_signing_keys TO iot_gateway;
  END IF;
END $$;
