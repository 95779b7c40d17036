-- 015: over-the-air upgrades (Alink /ota/device/..., thing.ota.firmware.get).
-- Firmware packages: metadata here, the bytes in a PostgreSQL large object (content_oid). Large objects
-- are in every pg_dump of the database (deploy/backup.sh), every iot-api instance reads them with no
-- shared volume, and a package is written and read in chunks (never whole in memory). Deleting a
-- firmware row unlinks its large object (trigger below), also when its product is deleted.
CREATE TABLE firmwares (
  firmware_id   text PRIMARY KEY,                        -- 32 lowercase hex characters, random
  product_key   text NOT NULL REFERENCES products ON DELETE CASCADE,
  module        text NOT NULL CHECK (module <> '' AND length(module) <= 64),
  version       text NOT NULL CHECK (version <> '' AND length(version) <= 64),
  src_versions  text[] NOT NULL DEFAULT '{}',            -- versions it upgrades from (empty = any)
  is_diff       boolean NOT NULL DEFAULT false,
  ext_data      jsonb,                                   -- handed to devices as the push's extData
  size          bigint NOT NULL CHECK (size >= 0),
  md5           text NOT NULL,                           -- lowercase hex
  sha256        text NOT NULL,                           -- lowercase hex
  content_oid   oid NOT NULL,
  downloads     bigint NOT NULL DEFAULT 0,               -- download requests served
  created_at    timestamptz NOT NULL DEFAULT iot_now_ms(),
  created_by    text NOT NULL DEFAULT '',
  UNIQUE (product_key, module, version)
);

CREATE FUNCTION iot_firmware_unlink() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM lo_unlink(OLD.content_oid);
  RETURN NULL;
END $$;
CREATE TRIGGER firmwares_unlink AFTER DELETE ON firmwares
  FOR EACH ROW EXECUTE FUNCTION iot_firmware_unlink();

-- The version a device last informed per module ('default' when its inform names none).
CREATE TABLE device_modules (
  device_id   bigint NOT NULL REFERENCES devices ON DELETE CASCADE,
  module      text NOT NULL,
  version     text NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT iot_now_ms(),
  PRIMARY KEY (device_id, module)
);

-- An upgrade job: one firmware to the devices of a target, rolled out by the lease holder in iot-api.
CREATE TABLE ota_jobs (
  job_id             text PRIMARY KEY,                   -- 32 lowercase hex characters, random
  firmware_id        text REFERENCES firmwares ON DELETE SET NULL,   -- NULL once deleted (finished jobs)
  product_key        text NOT NULL REFERENCES products ON DELETE CASCADE,
  module             text NOT NULL,                      -- the firmware's, kept for the history
  version            text NOT NULL,
  target             text NOT NULL CHECK (target IN ('all', 'list', 'tag')),
  device_names       text[] NOT NULL DEFAULT '{}',
  tag_key            text NOT NULL DEFAULT '',
  tag_value          text NOT NULL DEFAULT '',
  dynamic            boolean NOT NULL DEFAULT false,
  max_concurrent     integer NOT NULL CHECK (max_concurrent >= 1),
  pushes_per_minute  integer NOT NULL CHECK (pushes_per_minute >= 0),   -- 0 = no limit
  retries            integer NOT NULL CHECK (retries >= 0),
  timeout_s          integer NOT NULL CHECK (timeout_s >= 1),
  state              text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'completed', 'cancelled')),
  created_at         timestamptz NOT NULL DEFAULT iot_now_ms(),
  created_by         text NOT NULL DEFAULT '',
  finished_at        timestamptz
);
CREATE INDEX ota_jobs_running ON ota_jobs (created_at) WHERE state = 'running';

-- One device's upgrade within a job. States: queued (waiting for its turn or for the device to come
-- online), pushed (the push was published after this state committed), downloading (the device reported
-- a step 1..100), succeeded (it informed the target version), failed (a step -1..-4 with no retry left,
-- or refused), timed_out (no success within timeout_s of the push, no retry left), cancelled.
CREATE TABLE ota_tasks (
  task_id       bigserial PRIMARY KEY,
  job_id        text NOT NULL REFERENCES ota_jobs ON DELETE CASCADE,
  device_id     bigint NOT NULL REFERENCES devices ON DELETE CASCADE,
  module        text NOT NULL,                           -- the firmware's (one active task per module)
  state         text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'pushed', 'downloading',
                     'succeeded', 'failed', 'timed_out', 'cancelled')),
  step          integer,                                 -- the device's last progress step
  description   text NOT NULL DEFAULT '',                -- the device's desc, or why the platform ended it
  attempts      integer NOT NULL DEFAULT 0,              -- pushes so far
  src_version   text NOT NULL DEFAULT '',                -- the module's version when the task was created
  pushed_at     timestamptz,
  created_at    timestamptz NOT NULL DEFAULT iot_now_ms(),
  updated_at    timestamptz NOT NULL DEFAULT iot_now_ms(),
  UNIQUE (job_id, device_id)
);
CREATE UNIQUE INDEX ota_tasks_active ON ota_tasks (device_id, module)
  WHERE state IN ('queued', 'pushed', 'downloading');
CREATE INDEX ota_tasks_job_state ON ota_tasks (job_id, state, task_id);

-- Leases: which iot-api instance drives the OTA jobs (one holder at a time). A holder renews its lease
-- before it expires; when it stops renewing (stopped, crashed, cut off) another instance takes over
-- once expires_at has passed. Every step of a job is a transaction, so a takeover never repeats a push
-- whose task committed, and never loses one that did not.
CREATE TABLE leases (
  name        text PRIMARY KEY,
  holder      text NOT NULL,
  expires_at  timestamptz NOT NULL
);

-- The gateway records informs and progress and answers firmware gets. Explicit, whichever role applies
-- this migration (default privileges of 006 cover only tables created by the role that set them).
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'iot_gateway') THEN
    GRANT SELECT ON firmwares, ota_jobs TO iot_gateway;
    GRANT SELECT, INSERT, UPDATE ON device_modules TO iot_gateway;
    GRANT SELECT, UPDATE ON ota_tasks TO iot_gateway;
  END IF;
END $$;
