-- 018: OTA downloads counted per task (issue 23).
--
-- A push's firmware link names the device's task (`task=<id>`, signed together with the path), so iot-api
-- counts a download that starts at byte 0 on the task as well as on the firmware: how many times a device
-- started fetching its package, shown with each task over REST and in the console. Links without a task
-- (older pushes, hand-made ones) count on the firmware only.

ALTER TABLE ota_tasks ADD COLUMN downloads bigint NOT NULL DEFAULT 0;
