-- Secure by default (issue 16): privileges of the platform's PostgreSQL roles, and the per-product
-- timestamp window of device passwords.
--
-- deploy/lib/platform.sh creates the roles (none is a superuser): iot_migrator owns the schema and runs
-- the migrations, iot_api is a member of it (it migrates at start and maintains partitions),
-- iot_gateway reads and writes rows, iot_broker (the broker plugin) reads devices and products and
-- marks devices offline when the broker starts. A cluster without these roles (the tests' shared one)
-- skips the grants. Default privileges cover the tables later migrations create.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'iot_gateway') THEN
    GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO iot_gateway;
    GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO iot_gateway;
    ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO iot_gateway;
    ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO iot_gateway;
    -- Operator credentials and the audit trail are no business of the device gateway.
    REVOKE ALL ON api_tokens, audit_log FROM iot_gateway;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'iot_broker') THEN
    GRANT SELECT ON devices, products TO iot_broker;
    GRANT UPDATE (status, last_offline_at) ON devices TO iot_broker;
  END IF;
END $$;

-- Seconds a device password's timestamp may differ from the platform's clock (NULL: not checked, as
-- Alibaba's SDKs need: the C SDK signs a fixed year-2050 timestamp). With a window, a CONNECT without
-- a timestamp is refused.
ALTER TABLE products ADD COLUMN timestamp_window_s integer
  CHECK (timestamp_window_s IS NULL OR timestamp_window_s BETWEEN 1 AND 86400);
