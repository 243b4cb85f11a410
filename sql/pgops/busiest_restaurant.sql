-- The restaurant with the most orders and its owner: whom the dashboards are checked as.
select r.id, r.owner_id from public.restaurants r join public.orders o on o.restaurant_id = r.id group by r.id order by count(*) desc limit 1
