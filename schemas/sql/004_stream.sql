-- 004: live stream. Service-call changes reach iot-api's stream listener on channel iot_stream in the
-- format of libs/store/include/iot/store/stream.hpp ("s <device_id> <time_ms> <ServiceCall JSON>"),
-- on commit of the change, in the same queue as the gateway's telemetry notifications (so per-device
-- order holds). PostgreSQL refuses payloads over 8000 bytes: params and output are left out then.
-- A row that maintenance moves out of the default partition is announced again with the same state.
CREATE FUNCTION iot_stream_service_call() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  data jsonb;
  head text;
BEGIN
  IF TG_OP = 'UPDATE' AND NEW IS NOT DISTINCT FROM OLD THEN
    RETURN NULL;
  END IF;
  data := jsonb_build_object(
    'callId', NEW.call_id, 'identifier', NEW.identifier, 'callType', NEW.call_type,
    'params', NEW.params, 'output', NEW.output, 'status', NEW.status, 'code', NEW.code,
    'message', NEW.message, 'requestedBy', NEW.requested_by,
    'requestedAt', iot_ms(NEW.requested_at), 'sentAt', iot_ms(NEW.sent_at),
    'repliedAt', iot_ms(NEW.replied_at), 'expiresAt', iot_ms(NEW.expires_at));
  head := 's ' || NEW.device_id || ' ' || iot_ms(clock_timestamp()) || ' ';
  IF octet_length(head || data::text) > 7900 THEN
    data := (data - 'params' - 'output' - 'message')
            || jsonb_build_object('message', left(NEW.message, 512), 'truncated', true);
  END IF;
  PERFORM pg_notify('iot_stream', head || data::text);
  RETURN NULL;
END $$;
CREATE TRIGGER service_calls_stream AFTER INSERT OR UPDATE ON service_calls
  FOR EACH ROW EXECUTE FUNCTION iot_stream_service_call();
