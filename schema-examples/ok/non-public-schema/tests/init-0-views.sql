-- The unmanaged type CustomerTotal is backed by this view.
CREATE VIEW commerce.customer_totals AS
  SELECT c.id AS customer_id, COUNT(o.id)::INT AS order_count
  FROM commerce.customers c
  LEFT JOIN commerce.orders o ON o.customer_id = c.id
  GROUP BY c.id;
