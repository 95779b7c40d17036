-- 007: raw (pass-through) products and their parsing scripts.
-- data_format is fixed when the product is created; the script lives on the product row, so saving it
-- fires products_notify (channel iot_product) and the gateway and iot-api reload it within a second.
ALTER TABLE products
  ADD COLUMN data_format text NOT NULL DEFAULT 'alink' CHECK (data_format IN ('alink', 'raw')),
  ADD COLUMN script text,
  ADD COLUMN script_updated_at timestamptz;

CREATE FUNCTION iot_product_data_format_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.data_format IS DISTINCT FROM OLD.data_format THEN
    RAISE EXCEPTION 'data_format of product % is fixed at creation', OLD.product_key
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER products_data_format_fixed BEFORE UPDATE OF data_format ON products
  FOR EACH ROW EXECUTE FUNCTION iot_product_data_format_fixed();
