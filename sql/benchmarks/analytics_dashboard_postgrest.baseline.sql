-- Before the functions existed the admin dashboard fetched the window's orders and aggregated them in the
-- client (as analytics_dashboard.baseline.sql), here over the last 30 days from now.
-- pg_ops: role=authenticated
-- pg_ops: client=pandas_dashboard

select p.id as sub, now() - interval '30 days' as start_at, now() as end_at
from public.profiles p where p.role = 'admin' and $1::text is not null;

select status, total_amount, created_at, delivered_at, estimated_delivery_at
from public.orders
where created_at >= $1 and created_at < $2;
