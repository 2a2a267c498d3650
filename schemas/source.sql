-- Source OLTP schema of `ecommerce_source` (data contract, section 1).
-- Idempotent: safe to run on every `ecom db init`.
-- Like the legacy database, the enum-like VARCHAR columns carry no CHECK constraint:
-- dirty values do reach the source, and silver quarantines them.

CREATE TABLE IF NOT EXISTS public.customers (
    customer_id       SERIAL PRIMARY KEY,
    email             VARCHAR(255) UNIQUE NOT NULL,
    first_name        VARCHAR(100),
    last_name         VARCHAR(100),
    customer_segment  VARCHAR(50),
    loyalty_tier      VARCHAR(20),
    registration_date TIMESTAMP,
    updated_at        TIMESTAMP
);

CREATE TABLE IF NOT EXISTS public.products (
    product_id     SERIAL PRIMARY KEY,
    product_name   VARCHAR(255),
    sku            VARCHAR(100) UNIQUE,
    category       VARCHAR(100),
    price          DECIMAL(10, 2),
    stock_quantity INTEGER,
    updated_at     TIMESTAMP
);

CREATE TABLE IF NOT EXISTS public.marketing_campaigns (
    campaign_id   SERIAL PRIMARY KEY,
    campaign_name VARCHAR(255),
    channel       VARCHAR(50),
    budget        DECIMAL(12, 2),
    roi           DECIMAL(8, 2),
    start_date    DATE,
    end_date      DATE
);

CREATE TABLE IF NOT EXISTS public.orders (
    order_id     SERIAL PRIMARY KEY,
    customer_id  INTEGER REFERENCES public.customers (customer_id),
    order_date   TIMESTAMP,
    order_status VARCHAR(50),
    total_amount DECIMAL(12, 2),
    campaign_id  INTEGER NULL REFERENCES public.marketing_campaigns (campaign_id),
    updated_at   TIMESTAMP
);

CREATE TABLE IF NOT EXISTS public.order_items (
    order_item_id SERIAL PRIMARY KEY,
    order_id      INTEGER REFERENCES public.orders (order_id) ON DELETE CASCADE,
    product_id    INTEGER REFERENCES public.products (product_id),
    quantity      INTEGER,
    unit_price    DECIMAL(10, 2)
);

CREATE TABLE IF NOT EXISTS public.inventory_transactions (
    transaction_id   SERIAL PRIMARY KEY,
    product_id       INTEGER REFERENCES public.products (product_id),
    transaction_type VARCHAR(20),
    quantity         INTEGER,
    transaction_date TIMESTAMP
);

-- Indexes the FK joins and the live generator need.
CREATE INDEX IF NOT EXISTS orders_customer_id_idx ON public.orders (customer_id);
CREATE INDEX IF NOT EXISTS orders_campaign_id_idx ON public.orders (campaign_id);
CREATE INDEX IF NOT EXISTS orders_order_date_idx ON public.orders (order_date);
CREATE INDEX IF NOT EXISTS order_items_order_id_idx ON public.order_items (order_id);
CREATE INDEX IF NOT EXISTS order_items_product_id_idx ON public.order_items (product_id);
CREATE INDEX IF NOT EXISTS inventory_transactions_product_id_idx
    ON public.inventory_transactions (product_id);

-- Full before-images on update and delete.
ALTER TABLE public.customers REPLICA IDENTITY FULL;
ALTER TABLE public.products REPLICA IDENTITY FULL;
ALTER TABLE public.marketing_campaigns REPLICA IDENTITY FULL;
ALTER TABLE public.orders REPLICA IDENTITY FULL;
ALTER TABLE public.order_items REPLICA IDENTITY FULL;
ALTER TABLE public.inventory_transactions REPLICA IDENTITY FULL;

-- CDC plumbing, kept out of `public` so no analytics query trips over it.
CREATE SCHEMA IF NOT EXISTS cdc;

-- Debezium's heartbeat.action.query upserts this single row, so the slot's
-- confirmed position moves forward even when the business tables are idle.
CREATE TABLE IF NOT EXISTS cdc.debezium_heartbeat (
    id      INTEGER PRIMARY KEY,
    beat_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Debezium's source signalling table (ad-hoc incremental snapshots).
CREATE TABLE IF NOT EXISTS cdc.debezium_signal (
    id   VARCHAR(42) PRIMARY KEY,
    type VARCHAR(32) NOT NULL,
    data VARCHAR(2048)
);
