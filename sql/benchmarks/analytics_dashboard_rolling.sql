-- Admin dashboard as the app asks for it: the four metrics over the last 30 days from this moment,
-- platform-wide.
-- pg_ops: role=authenticated
-- pg_ops: target_ms=25
-- pg_ops: baseline=analytics_dashboard.baseline.sql

select p.id as sub, now() - interval '30 days' as start_at, now() as end_at, null::uuid as restaurant_id
from public.profiles p where p.role = 'admin' and $1::text is not null;

select public.calculate_on_time_rate($1, $2, $3);
select public.calculate_avg_delivery_time($1, $2, $3);
select * from public.calculate_revenue_metrics($1, $2, $3);
select * from public.get_order_status_distribution($1, $2, $3);
