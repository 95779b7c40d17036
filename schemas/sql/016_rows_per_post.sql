-- 016: property values stored per post and per device (issue 24, step 1).
--
-- property_posts: one row per post and device time instead of one row per value. The values of a post
-- that share a device time are one jsonb object {"<identifier>": <value>, ...}; a post whose items
-- carry several times gives one row per time, and an identifier that occurs twice at the same time
-- gives a second row (so a row never holds two values of one property and (ts, id) still orders and
-- pages one property's values). Indexed on (device_id, ts, id): no identifier column to index per value.
-- Partitioned by day like before (property_posts_pYYYYMMDD, property_posts_default); retention still
-- drops whole daily partitions.
--
-- device_latest: one row per device, {"<identifier>": [<value>, <device time ms>, <received ms>], ...},
-- merged per identifier at ingest (an older device time never replaces a newer one).
--
-- Existing data is moved: the values of one device, time and receive time are grouped, the n-th value
-- of each identifier in the n-th row, each row keeping the smallest old id of its values (so the order
-- of one property's values at one time is kept, and new rows continue the same id sequence).
--
-- The old names stay, per value, for operators' queries and checks and for the previous release's
-- gateways, which keep running against this schema until they are replaced (README "Upgrade"):
--   property_history   a view (id, device_id, identifier, value, ts, received_at) over property_posts;
--                      rows inserted or copied into it are stored as one-value posts (INSTEAD OF trigger);
--   latest_properties  an empty table: a row inserted (upserted) into it is merged into device_latest
--                      instead of being stored;
--   latest_values      a view (device_id, identifier, value, ts, received_at) over device_latest.

ALTER TABLE property_history RENAME TO property_history_v1;
ALTER SEQUENCE property_history_id_seq RENAME TO property_posts_id_seq;

CREATE TABLE property_posts (
  id           bigint NOT NULL DEFAULT nextval('property_posts_id_seq'),
  device_id    bigint NOT NULL,
  ts           timestamptz NOT NULL,           -- device time
  received_at  timestamptz NOT NULL DEFAULT now(),
  props        jsonb NOT NULL                  -- {"<identifier>": <value>, ...}
) PARTITION BY RANGE (ts);
ALTER SEQUENCE property_posts_id_seq OWNED BY property_posts.id;
CREATE INDEX property_posts_device_ts ON property_posts (device_id, ts, id);

-- The same partitions (daily ones and the default) under the new table's name.
DO $$
DECLARE
  p record;
BEGIN
  FOR p IN SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
           FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
           WHERE i.inhparent = 'property_history_v1'::regclass LOOP
    EXECUTE format('CREATE TABLE %I PARTITION OF property_posts %s',
                   'property_posts' || substr(p.name, length('property_history') + 1), p.bound);
  END LOOP;
END $$;

INSERT INTO property_posts (id, device_id, ts, received_at, props)
SELECT min(id), device_id, ts, received_at, jsonb_object_agg(identifier, value)
FROM (SELECT id, device_id, identifier, value, ts, received_at,
             row_number() OVER (PARTITION BY device_id, identifier, ts, received_at ORDER BY id) AS n
      FROM property_history_v1) v
GROUP BY device_id, ts, received_at, n;

DROP TABLE property_history_v1;

CREATE VIEW property_history AS
  SELECT p.id, p.device_id, v.key AS identifier, v.value, p.ts, p.received_at
  FROM property_posts p CROSS JOIN LATERAL jsonb_each(p.props) AS v(key, value);

CREATE FUNCTION iot_property_history_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO property_posts (device_id, ts, received_at, props)
  VALUES (NEW.device_id, NEW.ts, coalesce(NEW.received_at, now()), jsonb_build_object(NEW.identifier, NEW.value));
  RETURN NEW;
END $$;
CREATE TRIGGER property_history_insert INSTEAD OF INSERT ON property_history
  FOR EACH ROW EXECUTE FUNCTION iot_property_history_insert();

CREATE TABLE device_latest (
  device_id  bigint PRIMARY KEY REFERENCES devices ON DELETE CASCADE,
  props      jsonb NOT NULL            -- {"<identifier>": [<value>, <device time ms>, <received ms>]}
) WITH (fillfactor = 50);              -- room for HOT updates: one update per device and batch

INSERT INTO device_latest (device_id, props)
SELECT device_id, jsonb_object_agg(identifier, jsonb_build_array(value, iot_ms(ts), iot_ms(received_at)))
FROM latest_properties GROUP BY device_id;

TRUNCATE latest_properties;

CREATE FUNCTION iot_latest_properties_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO device_latest AS l (device_id, props)
  VALUES (NEW.device_id, jsonb_build_object(NEW.identifier,
                                            jsonb_build_array(NEW.value, iot_ms(NEW.ts), iot_ms(NEW.received_at))))
  ON CONFLICT (device_id) DO UPDATE SET props = l.props || excluded.props
  WHERE NOT coalesce((l.props -> NEW.identifier ->> 1)::bigint > iot_ms(NEW.ts), false);
  RETURN NULL;  -- nothing is stored in latest_properties
END $$;
CREATE TRIGGER latest_properties_insert BEFORE INSERT ON latest_properties
  FOR EACH ROW EXECUTE FUNCTION iot_latest_properties_insert();

CREATE VIEW latest_values AS
  SELECT l.device_id, v.key AS identifier, v.value -> 0 AS value, iot_ts((v.value ->> 1)::bigint) AS ts,
         iot_ts((v.value ->> 2)::bigint) AS received_at
  FROM device_latest l CROSS JOIN LATERAL jsonb_each(l.props) AS v(key, value);
