-- 001_init.sql: initial schema of the IoT device cloud. Forward-only; applied by iot::store::Migrator
-- (embedded into the binaries at build time). schema_version is created by the Migrator itself.
-- Times are timestamptz with millisecond precision (the API and Alink use epoch ms).

CREATE FUNCTION iot_ts(ms bigint) RETURNS timestamptz
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT timestamptz '1970-01-01 00:00:00+00' + ms * interval '1 millisecond' $$;

CREATE FUNCTION iot_ms(t timestamptz) RETURNS bigint
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT floor(extract(epoch FROM t) * 1000)::bigint $$;

CREATE FUNCTION iot_now_ms() RETURNS timestamptz
  LANGUAGE sql STABLE
  AS $$ SELECT date_trunc('milliseconds', clock_timestamp()) $$;

-- ---------------------------------------------------------------------------------------------------
-- Access

CREATE TABLE api_tokens (
  id          bigserial PRIMARY KEY,
  token_hash  text NOT NULL UNIQUE,            -- lowercase hex sha256 of the clear token
  name        text NOT NULL,
  role        text NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
  created_at  timestamptz NOT NULL DEFAULT iot_now_ms(),
  expires_at  timestamptz,
  revoked     boolean NOT NULL DEFAULT false
);

CREATE TABLE audit_log (
  id      bigserial PRIMARY KEY,
  at      timestamptz NOT NULL DEFAULT iot_now_ms(),
  actor   text NOT NULL,
  action  text NOT NULL,
  target  text NOT NULL DEFAULT '',
  detail  jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at_id ON audit_log (at, id);

-- ---------------------------------------------------------------------------------------------------
-- Products and thing models

CREATE TABLE products (
  product_key     text PRIMARY KEY,
  name            text NOT NULL,
  node_type       text NOT NULL DEFAULT 'device' CHECK (node_type IN ('device', 'gateway')),
  validation      text NOT NULL DEFAULT 'weak' CHECK (validation IN ('none', 'weak', 'strict')),
  retention_days  integer NOT NULL DEFAULT 30 CHECK (retention_days BETWEEN 1 AND 36500),
  description     text NOT NULL DEFAULT '',
  created_at      timestamptz NOT NULL DEFAULT iot_now_ms()
);

CREATE TABLE thing_model_drafts (
  product_key        text NOT NULL REFERENCES products ON DELETE CASCADE,
  function_block_id  text NOT NULL DEFAULT '',   -- '' = default module
  tsl                jsonb NOT NULL,
  updated_at         timestamptz NOT NULL DEFAULT iot_now_ms(),
  PRIMARY KEY (product_key, function_block_id)
);

CREATE TABLE thing_model_versions (
  product_key   text NOT NULL REFERENCES products ON DELETE CASCADE,
  version       integer NOT NULL CHECK (version >= 1),
  published_at  timestamptz NOT NULL DEFAULT iot_now_ms(),
  description   text NOT NULL DEFAULT '',
  tsl           jsonb NOT NULL,                 -- combined TSL of all modules
  modules       jsonb NOT NULL DEFAULT '{}',    -- {"<functionBlockId>": module TSL}
  PRIMARY KEY (product_key, version)
);

-- ---------------------------------------------------------------------------------------------------
-- Devices

CREATE TABLE devices (
  id               bigserial PRIMARY KEY,
  product_key      text NOT NULL REFERENCES products ON DELETE RESTRICT,
  device_name      text NOT NULL,
  nickname         text NOT NULL DEFAULT '',
  secret           text NOT NULL,
  enabled          boolean NOT NULL DEFAULT true,
  status           text NOT NULL DEFAULT 'unactive' CHECK (status IN ('unactive', 'online', 'offline')),
  created_at       timestamptz NOT NULL DEFAULT iot_now_ms(),
  activated_at     timestamptz,
  last_online_at   timestamptz,
  last_offline_at  timestamptz,
  ip_address       text NOT NULL DEFAULT '',
  tags             jsonb NOT NULL DEFAULT '{}',
  status_seq       bigint NOT NULL DEFAULT 0,     -- sequence of the last applied lifecycle message
  UNIQUE (product_key, device_name)
);

-- Newest accepted value per property, by device time (an older ts never replaces a newer one).
CREATE TABLE latest_properties (
  device_id    bigint NOT NULL REFERENCES devices ON DELETE CASCADE,
  identifier   text NOT NULL,
  value        jsonb NOT NULL,
  ts           timestamptz NOT NULL,
  received_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (device_id, identifier)
);

CREATE TABLE desired_properties (
  device_id   bigint NOT NULL REFERENCES devices ON DELETE CASCADE,
  identifier  text NOT NULL,
  value       jsonb,                               -- NULL = cleared
  version     integer NOT NULL DEFAULT 0,
  updated_at  timestamptz NOT NULL DEFAULT iot_now_ms(),
  PRIMARY KEY (device_id, identifier)
);

-- "Same device, same message id, same payload within 10 minutes" is one message. No FK: hot path.
CREATE TABLE message_dedupe (
  device_id     bigint NOT NULL,
  message_id    text NOT NULL,
  payload_hash  bigint NOT NULL,
  received_at   timestamptz NOT NULL,
  PRIMARY KEY (device_id, message_id, payload_hash)
);
CREATE INDEX message_dedupe_received_at ON message_dedupe (received_at);

-- ---------------------------------------------------------------------------------------------------
-- Time-partitioned data (daily partitions <table>_pYYYYMMDD created ahead by Maintenance, plus a DEFAULT
-- partition for stray timestamps). No foreign keys: deleting a device deletes its rows explicitly, and
-- retention drops whole partitions.

CREATE TABLE property_history (
  id           bigserial,
  device_id    bigint NOT NULL,
  identifier   text NOT NULL,
  value        jsonb NOT NULL,
  ts           timestamptz NOT NULL,           -- device time
  received_at  timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (ts);
CREATE INDEX property_history_key ON property_history (device_id, identifier, ts, id);
CREATE TABLE property_history_default PARTITION OF property_history DEFAULT;

CREATE TABLE events (
  id           bigserial,
  device_id    bigint NOT NULL,
  identifier   text NOT NULL,
  type         text NOT NULL DEFAULT 'info',
  output       jsonb NOT NULL DEFAULT '{}',
  ts           timestamptz NOT NULL,
  received_at  timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (ts);
CREATE INDEX events_device_ts ON events (device_id, ts, id);
CREATE INDEX events_device_identifier_ts ON events (device_id, identifier, ts, id);
CREATE TABLE events_default PARTITION OF events DEFAULT;

CREATE TABLE rejections (
  id           bigserial,
  device_id    bigint NOT NULL,
  ts           timestamptz NOT NULL,
  method       text NOT NULL DEFAULT '',
  identifier   text NOT NULL DEFAULT '',
  value        text NOT NULL DEFAULT '',        -- as received (may be invalid JSON)
  code         integer NOT NULL,
  message      text NOT NULL DEFAULT '',
  received_at  timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (ts);
CREATE INDEX rejections_device_ts ON rejections (device_id, ts, id);
CREATE TABLE rejections_default PARTITION OF rejections DEFAULT;

CREATE TABLE service_calls (
  id            bigserial,
  call_id       text NOT NULL,
  device_id     bigint NOT NULL,
  identifier    text NOT NULL,
  call_type     text NOT NULL CHECK (call_type IN ('sync', 'async')),
  params        jsonb NOT NULL DEFAULT '{}',
  output        jsonb,
  status        text NOT NULL CHECK (status IN ('queued', 'sent', 'succeeded', 'failed', 'timeout',
                                                'expired', 'rejected')),
  code          integer,
  message       text NOT NULL DEFAULT '',
  requested_by  text NOT NULL DEFAULT '',
  requested_at  timestamptz NOT NULL,
  sent_at       timestamptz,
  replied_at    timestamptz,
  expires_at    timestamptz,
  alink_id      text NOT NULL DEFAULT '',
  rrpc_id       text NOT NULL DEFAULT ''
) PARTITION BY RANGE (requested_at);
CREATE INDEX service_calls_device_requested ON service_calls (device_id, requested_at, id);
CREATE INDEX service_calls_call_id ON service_calls (call_id);
CREATE INDEX service_calls_alink ON service_calls (device_id, alink_id);
CREATE INDEX service_calls_queued ON service_calls (device_id, requested_at) WHERE status = 'queued';
CREATE TABLE service_calls_default PARTITION OF service_calls DEFAULT;

-- ---------------------------------------------------------------------------------------------------
-- Change notifications (LISTEN/NOTIFY) so gateway and broker plugin caches reload within seconds.
--   iot_product        payload: product_key
--   iot_thing_model    payload: product_key               (a version was published)
--   iot_device         payload: product_key/device_name   (created, deleted, enabled or secret changed)
--   iot_device_status  payload: product_key/device_name/status

CREATE FUNCTION iot_notify_product() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('iot_product', CASE WHEN TG_OP = 'DELETE' THEN OLD.product_key ELSE NEW.product_key END);
  RETURN NULL;
END $$;
CREATE TRIGGER products_notify AFTER INSERT OR UPDATE OR DELETE ON products
  FOR EACH ROW EXECUTE FUNCTION iot_notify_product();

CREATE FUNCTION iot_notify_thing_model() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('iot_thing_model', NEW.product_key);
  RETURN NULL;
END $$;
CREATE TRIGGER thing_model_versions_notify AFTER INSERT ON thing_model_versions
  FOR EACH ROW EXECUTE FUNCTION iot_notify_thing_model();

CREATE FUNCTION iot_notify_device() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM pg_notify('iot_device', OLD.product_key || '/' || OLD.device_name);
  ELSIF TG_OP = 'INSERT' OR NEW.enabled IS DISTINCT FROM OLD.enabled OR NEW.secret IS DISTINCT FROM OLD.secret THEN
    PERFORM pg_notify('iot_device', NEW.product_key || '/' || NEW.device_name);
  END IF;
  IF TG_OP = 'UPDATE' AND NEW.status IS DISTINCT FROM OLD.status THEN
    PERFORM pg_notify('iot_device_status', NEW.product_key || '/' || NEW.device_name || '/' || NEW.status);
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER devices_notify AFTER INSERT OR UPDATE OR DELETE ON devices
  FOR EACH ROW EXECUTE FUNCTION iot_notify_device();
