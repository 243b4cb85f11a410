-- The bench database only: the pgbench scripts draw their customers with the demo's id function as the
-- application role does its work (authenticated).
grant usage on schema pgops_demo to authenticated;
grant execute on function pgops_demo.uid(bigint, text, bigint) to authenticated;
