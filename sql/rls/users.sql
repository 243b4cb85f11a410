-- One user of each kind, chosen the same way every time, for the allow/deny matrix.
select 'customer' as who, (select customer_id from public.orders group by 1 order by count(*) desc, 1 limit 1) as id
union all
select 'customer_2', (select customer_id from public.orders group by 1 order by count(*), 1 limit 1)
union all
select 'driver', (select driver_id from public.orders where driver_id is not null group by 1
                  order by count(*) desc, 1 limit 1)
union all
select 'owner', (select owner_id from public.restaurants order by name limit 1)
union all
select 'admin', (select id from public.profiles where role = 'admin' order by id limit 1)
union all
select 'anon', null;
