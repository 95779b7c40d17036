-- 011: the device shadow (Alibaba's separate JSON document, not the thing model's desired properties).
--   document: {"state":{"reported":{..},"desired":{..}},"metadata":{..},"timestamp":<s>}
--   version:  the shadow's version (devices and operators must send a greater one)
CREATE TABLE device_shadows (
  device_id   bigint PRIMARY KEY REFERENCES devices ON DELETE CASCADE,
  document    jsonb NOT NULL DEFAULT '{}',
  version     bigint NOT NULL DEFAULT 0,
  updated_at  timestamptz NOT NULL DEFAULT iot_now_ms()
);
