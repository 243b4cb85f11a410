-- Smoke queries through the pooler, as the application logs in (Supabase's PostgREST: `authenticator`, then
-- SET LOCAL ROLE), in one transaction, without prepared statements. A pool that cannot carry a transaction
-- (pool_mode = statement) fails here as the app would; the last row must say row-level security still
-- hides every order from a user who owns none.
select current_user as login, current_database() as database;

set local role authenticated;

select set_config('request.jwt.claims',
                  '{"sub": "00000000-0000-0000-0000-000000000000", "role": "authenticated"}', true);

select count(*) = 0 as isolated from public.orders;
