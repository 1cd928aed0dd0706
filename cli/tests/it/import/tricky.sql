-- Awkward corners for `exo schema import`: reserved and colliding names, a foreign key to a
-- unique column, shared columns in composite foreign keys, types exo has no name for, an enum
-- whose values GraphQL cannot carry, indexes exo cannot write, a generated column.
CREATE SCHEMA "Billing";
CREATE TYPE progress AS ENUM ('todo', 'in-progress', 'done');
CREATE TABLE users (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, handle TEXT NOT NULL UNIQUE, "type" TEXT, "and" INT, self BOOLEAN, "user" TEXT);
CREATE TABLE profiles (user_id BIGINT PRIMARY KEY REFERENCES users(id), bio TEXT DEFAULT E'line1\nline2 \\ "q"');
CREATE TABLE query (id SERIAL PRIMARY KEY, q TEXT);
CREATE TABLE handles (id SERIAL PRIMARY KEY, handle TEXT REFERENCES users(handle));
CREATE TABLE "order-items" (id SERIAL PRIMARY KEY, user_id BIGINT REFERENCES users(id), "user" TEXT, p progress, span INTERVAL, ip INET, cost MONEY, doc TSVECTOR, pt POINT, n NUMERIC, code CHAR(3), at TIME(3), attz TIMETZ, total INT GENERATED ALWAYS AS (id * 2) STORED);
CREATE UNIQUE INDEX order_items_partial ON "order-items" (code) WHERE code IS NOT NULL;
CREATE INDEX order_items_lower ON "order-items" (lower("user"));
CREATE INDEX order_items_doc ON "order-items" USING gin (doc);
CREATE TABLE "Billing".tenants (id TEXT PRIMARY KEY);
CREATE TABLE "Billing".accounts (tenant_id TEXT NOT NULL REFERENCES "Billing".tenants(id), account_no INT NOT NULL, PRIMARY KEY (tenant_id, account_no));
CREATE TABLE "Billing".invoices (tenant_id TEXT NOT NULL, invoice_no INT NOT NULL, account_no INT NOT NULL, payer_account_no INT, PRIMARY KEY (tenant_id, invoice_no),
  FOREIGN KEY (tenant_id, account_no) REFERENCES "Billing".accounts (tenant_id, account_no),
  FOREIGN KEY (tenant_id, payer_account_no) REFERENCES "Billing".accounts (tenant_id, account_no));
CREATE TABLE events (at TIMESTAMPTZ DEFAULT now(), user_id BIGINT REFERENCES users(id));
CREATE TABLE passports (id SERIAL PRIMARY KEY, holder_id BIGINT UNIQUE REFERENCES users(id));
