-- 008_thing_model_changes.sql: dry runs of a thing-model draft (or version) against recorded traffic.
-- A run re-validates accepted history and refused items of a time window against `model`; its result
-- is kept with the model it ran against, so a publish can tell whether the current draft was dry-run.

CREATE TABLE thing_model_dry_runs (
  id            bigserial PRIMARY KEY,
  product_key   text NOT NULL REFERENCES products ON DELETE CASCADE,
  version       text NOT NULL,                   -- 'draft' or the version number it ran against
  model         jsonb NOT NULL,                  -- the combined TSL it validated with
  mode          text NOT NULL,                   -- the product's validation mode at the time
  from_ts       timestamptz NOT NULL,
  to_ts         timestamptz NOT NULL,
  state         text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'done', 'failed')),
  progress      double precision NOT NULL DEFAULT 0,
  result        jsonb,
  error         text NOT NULL DEFAULT '',
  requested_by  text NOT NULL DEFAULT '',
  created_at    timestamptz NOT NULL DEFAULT iot_now_ms(),
  finished_at   timestamptz
);
CREATE INDEX thing_model_dry_runs_product ON thing_model_dry_runs (product_key, id);
