-- pg_ops demo platform, part 1: the delivery platform's tables, as the app created them.
-- Primary keys, foreign keys and checks are added in 40_constraints.sql, after the bulk load (faster).
-- No performance index exists beyond those constraints: that is what the rollout fixes.

create schema if not exists pgops_demo;
comment on schema pgops_demo is 'created by pg_ops demo load; marks this database as the pg_ops demo platform';

-- Back to the "before" state: the tables, and whatever a rollout added (its ledger, helpers, functions).
drop table if exists public.order_items, public.orders, public.products, public.restaurants, public.profiles cascade;
drop table if exists public.daily_restaurant_stats;
drop function if exists public.search_products(text, integer);
drop schema if exists pgops cascade;
drop schema if exists monitoring cascade;
drop schema if exists private cascade;
drop function if exists public.calculate_on_time_rate(timestamptz, timestamptz, uuid),
  public.calculate_avg_delivery_time(timestamptz, timestamptz, uuid),
  public.calculate_revenue_metrics(timestamptz, timestamptz, uuid),
  public.get_order_status_distribution(timestamptz, timestamptz, uuid);
delete from auth.users;

create table public.profiles (
  id uuid not null,
  role text not null,
  full_name text not null,
  phone text,
  created_at timestamptz not null default now()
);

create table public.restaurants (
  id uuid not null,
  owner_id uuid not null,
  name text not null,
  cuisine text not null,
  address text not null,
  is_active boolean not null default true,
  created_at timestamptz not null default now()
);

create table public.products (
  id uuid not null,
  restaurant_id uuid not null,
  name text not null,
  description text,
  category text not null,
  price numeric(10, 2) not null,
  is_available boolean not null default true,
  created_at timestamptz not null default now()
);

create table public.orders (
  id uuid not null,
  customer_id uuid not null,
  restaurant_id uuid not null,
  driver_id uuid,
  status text not null,
  subtotal numeric(10, 2) not null,
  delivery_fee numeric(10, 2) not null,
  total_amount numeric(10, 2) not null,
  delivery_address text not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  estimated_delivery_at timestamptz,
  delivered_at timestamptz
);

create table public.order_items (
  id bigint not null,
  order_id uuid not null,
  product_id uuid not null,
  quantity integer not null,
  unit_price numeric(10, 2) not null
);

grant select, insert, update, delete on all tables in schema public to anon, authenticated, service_role;
