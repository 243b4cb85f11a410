-- Restaurant owner's dashboard as the app asks for it: the four metrics over the last 7 days from this
-- moment, for their restaurant.
-- pg_ops: role=authenticated
-- pg_ops: expect_index=daily_restaurant_stats_pkey|daily_restaurant_stats_day_idx
-- pg_ops: target_ms=10
-- pg_ops: baseline=restaurant_dashboard.baseline.sql

select r.owner_id as sub, now() - interval '7 days' as start_at, now() as end_at, r.id as restaurant_id
from public.restaurants r order by md5(r.id::text || $1) limit 20;

select public.calculate_on_time_rate($1, $2, $3);
select public.calculate_avg_delivery_time($1, $2, $3);
select * from public.calculate_revenue_metrics($1, $2, $3);
select * from public.get_order_status_distribution($1, $2, $3);
