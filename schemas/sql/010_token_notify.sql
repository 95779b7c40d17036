-- 010: token changes are announced so every iot-api instance can drop its cached tokens at once.
--   iot_token  payload: id/state, state = revoked (revoked or deleted) or active
CREATE FUNCTION iot_notify_token() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM pg_notify('iot_token', OLD.id || '/revoked');
  ELSIF NEW.revoked IS DISTINCT FROM OLD.revoked OR NEW.expires_at IS DISTINCT FROM OLD.expires_at
        OR NEW.role IS DISTINCT FROM OLD.role OR NEW.name IS DISTINCT FROM OLD.name THEN
    PERFORM pg_notify('iot_token', NEW.id || CASE WHEN NEW.revoked THEN '/revoked' ELSE '/active' END);
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER api_tokens_notify AFTER UPDATE OR DELETE ON api_tokens
  FOR EACH ROW EXECUTE FUNCTION iot_notify_token();
