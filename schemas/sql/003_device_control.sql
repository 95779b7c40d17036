-- 003: device control. RRPC answers find their call by messageId; the sweep that expires queued calls
-- and times out unanswered ones scans only open calls.
CREATE INDEX service_calls_rrpc ON service_calls (rrpc_id) WHERE rrpc_id <> '';
CREATE INDEX service_calls_open_expiry ON service_calls (expires_at) WHERE status IN ('queued', 'sent');
