-- 013: custom-topic messages (issue 20). One row per message a device published on its
-- /{pk}/{dn}/user/... topics (direction 'up', stored by the gateway) and per message an operator sent
-- to one (direction 'down', stored by iot-api, with its delivery state). A QoS 1 downlink to an offline
-- device waits here ('queued', expires_at = its time to live) and is published when the device connects.
-- Bounded: payloads are at most 256 KiB (MQTT's limit on Alibaba), rows older than the product's
-- retention_days are deleted, and each device keeps at most the newest N rows per direction
-- (store::PruneDeviceMessages, run by iot-api's maintenance loop).
CREATE TABLE device_messages (
  id           bigserial PRIMARY KEY,
  device_id    bigint NOT NULL REFERENCES devices ON DELETE CASCADE,
  direction    text NOT NULL CHECK (direction IN ('up', 'down')),
  kind         text NOT NULL DEFAULT 'message' CHECK (kind IN ('message', 'rrpc')),
  topic        text NOT NULL CHECK (octet_length(topic) <= 1024),
  payload      bytea NOT NULL CHECK (octet_length(payload) <= 262144),
  qos          smallint NOT NULL DEFAULT 0 CHECK (qos IN (0, 1)),
  status       text NOT NULL CHECK (status IN ('received', 'queued', 'sent', 'expired', 'failed',
                                               'answered', 'timeout')),
  message      text NOT NULL DEFAULT '',
  requested_by text NOT NULL DEFAULT '',
  ts           timestamptz NOT NULL DEFAULT iot_now_ms(),
  sent_at      timestamptz,
  expires_at   timestamptz,
  reply        bytea CHECK (reply IS NULL OR octet_length(reply) <= 262144)
);
-- Listing per device and direction by time (keyset (ts, id)); the prune counts per device the same way.
CREATE INDEX device_messages_list ON device_messages (device_id, direction, ts, id);
-- Delivery on connect and expiry scan only the queued downlinks.
CREATE INDEX device_messages_queued ON device_messages (device_id, id) WHERE status = 'queued';
CREATE INDEX device_messages_ts ON device_messages (ts);
