-- Before the functions existed the admin dashboard fetched the window's orders and aggregated them in
-- the browser; pg_ops aggregates them in pandas (pg_ops.dashboard_reference), as fast as a client gets.
-- pg_ops: role=authenticated
-- pg_ops: client=pandas_dashboard

select p.id as sub, date_trunc('day', now()) - interval '30 days' as start_at, date_trunc('day', now()) as end_at,
       null::uuid as restaurant_id
from public.profiles p where p.role = 'admin' and $1::text is not null;

select status, total_amount, created_at, delivered_at, estimated_delivery_at
from public.orders
where created_at >= $1 and created_at < $2 and ($3::uuid is null or restaurant_id = $3);
