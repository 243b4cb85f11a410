-- pg_ops demo platform, part 4: 90 days of orders (needs 30_reference_data.sql).
-- Skew: restaurant = floor(u^2 * R), so a few restaurants are busy; lunch (12-14h) and dinner
-- (18-21h) peaks; deliveries at peak hours run later. Statuses: 80 % delivered, 8 % cancelled, the
-- rest stuck in an open state; the last 3 hours before the anchor are in flight by age.
-- The OFFSET 0 fences keep each derived value computed once per row, and hand uid() plain columns
-- so the planner inlines it (a complex argument used twice in its body blocks inlining).
-- Order i has 1-5 items; its subtotal is computed from the same per-item hashes 32_order_items.sql uses.

insert into public.orders (id, customer_id, restaurant_id, driver_id, status, subtotal, delivery_fee,
                           total_amount, delivery_address, created_at, updated_at, estimated_delivery_at,
                           delivered_at)
select pgops_demo.uid(p.seed, 'order', o.i),
       pgops_demo.uid(p.seed, 'customer', o.customer_no),
       pgops_demo.uid(p.seed, 'restaurant', o.r),
       case when s.status in ('pending', 'confirmed')
                 or (s.status = 'cancelled' and pgops_demo.rnd(p.seed, 12, o.i) < 0.5) then null
            else pgops_demo.uid(p.seed, 'driver', o.driver_no)
       end,
       s.status,
       t.subtotal,
       2.50 + (o.r % 4) * 0.50,
       t.subtotal + 2.50 + (o.r % 4) * 0.50,
       'Tbilisi, street ' || (1 + o.i % 997) || ', apt ' || (1 + o.i % 89),
       o.created_at,
       coalesce(s.delivered_at, o.created_at + interval '5 minutes'),
       o.created_at + (25 + floor(pgops_demo.rnd(p.seed, 9, o.i) * 20)) * interval '1 minute',
       s.delivered_at
from pgops_demo.params p,
     lateral (
       select i,
              1 + floor(pgops_demo.rnd(p.seed, 1, i) ^ 2 * p.n_restaurants)::bigint as r,
              1 + floor(pgops_demo.rnd(p.seed, 2, i) * p.n_customers)::bigint as customer_no,
              1 + floor(pgops_demo.rnd(p.seed, 8, i) * p.n_drivers)::bigint as driver_no,
              h.hour between 12 and 14 or h.hour between 18 and 21 as peak,
              p.anchor - (1 + floor(pgops_demo.rnd(p.seed, 3, i) * 90)) * interval '1 day'
                + h.hour * interval '1 hour' + pgops_demo.rnd(p.seed, 6, i) * interval '1 hour' as created_at
       from generate_series(1, p.n_orders) i,
            lateral (select case when u < 0.35 then 12 + floor(v * 3)
                                 when u < 0.75 then 18 + floor(v * 4)
                                 else floor(v * 24) end::int as hour
                     from (select pgops_demo.rnd(p.seed, 4, i) as u, pgops_demo.rnd(p.seed, 5, i) as v) uv) h
       offset 0  -- a fence: without it the planner inlines created_at into every later use
     ) o,
     lateral (
       select status,
              case when status = 'delivered'
                   then o.created_at + (15 + pgops_demo.rnd(p.seed, 10, o.i) * 35 + case when o.peak then 8 else 0 end)
                        * interval '1 minute' end as delivered_at
       from (select case
                when p.anchor - o.created_at < interval '3 hours' then
                  case when p.anchor - o.created_at < interval '20 minutes' then 'pending'
                       when p.anchor - o.created_at < interval '40 minutes' then 'confirmed'
                       when p.anchor - o.created_at < interval '60 minutes' then 'preparing'
                       when p.anchor - o.created_at < interval '80 minutes' then 'ready'
                       when p.anchor - o.created_at < interval '120 minutes' then 'picked_up'
                       else 'delivered' end
                else
                  case when u < 0.80 then 'delivered'
                       when u < 0.88 then 'cancelled'
                       when u < 0.904 then 'pending'
                       when u < 0.928 then 'confirmed'
                       when u < 0.952 then 'preparing'
                       when u < 0.976 then 'ready'
                       else 'picked_up' end
              end as status
             from (select pgops_demo.rnd(p.seed, 7, o.i) as u) su offset 0) st
       offset 0
     ) s,
     lateral (
       select sum(pgops_demo.price(p.seed, (o.r - 1) * p.products_per_restaurant
                    + 1 + floor(pgops_demo.rnd(p.seed, 14, (o.i - 1) * 5 + j) * p.products_per_restaurant)::bigint)
                  * (1 + floor(pgops_demo.rnd(p.seed, 15, (o.i - 1) * 5 + j) ^ 3 * 3)))::numeric(10, 2) as subtotal
       from generate_series(1, 1 + floor(pgops_demo.rnd(p.seed, 11, o.i) * 5)::int) j
     ) t;
