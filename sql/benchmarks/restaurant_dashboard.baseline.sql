-- Before the functions existed the owner's dashboard fetched the window's orders of the restaurant and
-- aggregated them client-side; pg_ops aggregates them in pandas (pg_ops.dashboard_reference).
-- pg_ops: role=authenticated
-- pg_ops: client=pandas_dashboard

select r.owner_id as sub, date_trunc('day', now()) - interval '30 days' as start_at,
       date_trunc('day', now()) as end_at, r.id as restaurant_id
from public.restaurants r order by md5(r.id::text || $1) limit 20;

select status, total_amount, created_at, delivered_at, estimated_delivery_at
from public.orders
where created_at >= $1 and created_at < $2 and ($3::uuid is null or restaurant_id = $3);
