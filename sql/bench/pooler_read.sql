-- pgbench script (pg-ops bench, the 50-client pooler test): a customer opens the app and sees their latest
-- orders, sent as PostgREST sends it: one transaction, the role and the JWT claims set inside it, the
-- filter as a value (customer_id=eq.<uuid>); row-level security checks it against the claims.
\set c random(1, :n_customers)
begin;
set local role authenticated;
select set_config('request.jwt.claims',
                  json_build_object('sub', pgops_demo.uid(:seed, 'customer', :c), 'role', 'authenticated')::text, true);
select id, status, total_amount, created_at from public.orders
where customer_id = pgops_demo.uid(:seed, 'customer', :c) order by created_at desc limit 20;
commit;
