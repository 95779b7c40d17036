-- 020: OTA results as forwardable messages (issues 23 and 26).
--
-- When an upgrade task ends with the device's result (succeeded, or failed / timed out), every enabled
-- forwarding rule of kind "ota" of its product (or of all products) gets one outbox row, written by this
-- trigger in the transaction that ends the task: the gateway's (the device informs the target version or
-- reports a failing step) or iot-api's job driver (a timeout). The body is the server-side subscription's
-- /{pk}/{dn}/ota/upgrade message: status SUCCEEDED or FAILED, srcVersion, destVersion, desc, jobId, taskId,
-- plus the module. A cancelled task is the operator's act, not a device's result: not forwarded.

CREATE FUNCTION iot_ota_task_ended() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  dev    record;
  job    record;
  rules  bigint[];
BEGIN
  IF NEW.state IS NOT DISTINCT FROM OLD.state OR NEW.state NOT IN ('succeeded', 'failed', 'timed_out') THEN
    RETURN NULL;
  END IF;
  SELECT d.product_key, d.device_name, d.iot_id INTO dev FROM devices d WHERE d.id = NEW.device_id;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  SELECT array_agg(r.id ORDER BY r.id) INTO rules FROM forward_rules r
   WHERE r.enabled AND 'ota' = ANY(r.kinds) AND (r.product_key IS NULL OR r.product_key = dev.product_key);
  IF rules IS NULL THEN
    RETURN NULL;  -- the usual case: no rule takes OTA results
  END IF;
  SELECT j.version INTO job FROM ota_jobs j WHERE j.job_id = NEW.job_id;
  INSERT INTO forward_outbox (rule_ids, kind, topic, device_id, product_key, device_name, iot_id, payload)
  VALUES (rules, 'ota', '/' || dev.product_key || '/' || dev.device_name || '/ota/upgrade',
          NEW.device_id, dev.product_key, dev.device_name, dev.iot_id,
          jsonb_build_object(
            'iotId', dev.iot_id, 'productKey', dev.product_key, 'deviceName', dev.device_name,
            'status', CASE WHEN NEW.state = 'succeeded' THEN 'SUCCEEDED' ELSE 'FAILED' END,
            'messageCreateTime', iot_ms(iot_now_ms()), 'srcVersion', NEW.src_version,
            'destVersion', coalesce(job.version, ''),
            'desc', CASE WHEN NEW.state = 'timed_out' AND NEW.description = '' THEN 'timed out'
                         ELSE NEW.description END,
            'jobId', NEW.job_id, 'taskId', NEW.task_id::text, 'module', NEW.module));
  RETURN NULL;
END $$;
CREATE TRIGGER ota_tasks_ended AFTER UPDATE OF state ON ota_tasks
  FOR EACH ROW EXECUTE FUNCTION iot_ota_task_ended();
