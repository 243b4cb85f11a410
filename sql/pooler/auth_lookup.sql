-- What PgBouncer's auth_query calls (pg_ops renders: SELECT usename, passwd FROM pgbouncer.user_lookup($1)):
-- the stored SCRAM verifier of a login role, so PgBouncer checks client passwords against PostgreSQL's own
-- and no password is kept in its auth file. Superusers are never returned: nobody logs in to them through
-- the pooler. {auth_user} is the role PgBouncer connects as to run it; it may do nothing else.
-- The server must let {auth_user} in from the pooler's address without a password (pg_hba `trust` for
-- that role and address, or `cert` with server_tls_cert_file): PgBouncer 1.18 cannot log in with a verifier.
create schema if not exists pgbouncer;

create or replace function pgbouncer.user_lookup(p_usename text, out usename text, out passwd text)
returns record
language sql stable security definer
set search_path = ''
as $$
  select r.rolname::text, r.rolpassword
  from pg_catalog.pg_authid r
  where r.rolname = p_usename and r.rolcanlogin and not r.rolsuper
$$;

revoke all on schema pgbouncer from public;
revoke all on function pgbouncer.user_lookup(text) from public;
grant usage on schema pgbouncer to {auth_user};
grant execute on function pgbouncer.user_lookup(text) to {auth_user};
