-- Undoes 008_rls_support.sql: drops its indexes without blocking writes (one index per statement, outside a transaction).
-- pg_ops: transaction=off

drop index concurrently if exists public.restaurants_owner_id_idx;

drop index concurrently if exists public.profiles_id_role_idx;
