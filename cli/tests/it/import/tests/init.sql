INSERT INTO customers (email, full_name, tags, preferences)
VALUES ('ada@example.com', 'Ada Lovelace', '{vip,early}', '{"newsletter": true}'),
       ('alan@example.com', 'Alan Turing', NULL, NULL);
INSERT INTO loyalty_cards (customer_id, points) VALUES (1, 120);
INSERT INTO categories (name) VALUES ('Books'), ('Games');
INSERT INTO products (sku, name, price, category_id, dimensions_cm, weight_kg, "Display Name")
VALUES ('BK-1', 'Notes on the Analytical Engine', 19.99, 1, '{21.0,14.8,1.2}', 0.3, 'Notes'),
       ('GM-1', 'Enigma puzzle', 45.50, 2, NULL, 1.25, NULL);
INSERT INTO hr.employees (email, name, hired_on, manager_id)
VALUES ('grace@example.com', 'Grace Hopper', '2020-01-01', NULL),
       ('joan@example.com', 'Joan Clarke', '2021-06-01', 1);
INSERT INTO sales.orders (customer_id, sales_rep_id, approved_by_id, status, channel)
VALUES (1, 2, 1, 'PAID', 'WEB'),
       (2, 2, NULL, 'PENDING', 'STORE');
INSERT INTO sales.order_lines (order_id, line_no, product_sku, quantity, unit_price)
VALUES (1, 1, 'BK-1', 2, 19.99), (1, 2, 'GM-1', 1, 45.50), (2, 1, 'GM-1', 3, 40.00);
INSERT INTO sales.returns (order_id, line_no, reason) VALUES (1, 2, 'scratched');
INSERT INTO sales."Gift Cards" ("Code", balance, "order") VALUES ('GIFT-1', 25.00, 1);
INSERT INTO sales.audit_log (at, message, details, order_id)
VALUES ('2024-03-01T10:00:00Z', 'order 1 paid', '{"order": 1}', 1);
