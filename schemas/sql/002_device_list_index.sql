-- 002: device lists filter by status within a product and page by id.
CREATE INDEX devices_product_status_id ON devices (product_key, status, id);
