-- Before the rollout the app searched with a direct query: no index, tsvector computed per row.
-- pg_ops: role=authenticated

select (select customer_id from public.orders limit 1) as sub, p.name
from public.products p
order by md5(p.id::text || $1) limit 50;

select id, restaurant_id, name, price,
       ts_rank(to_tsvector('simple', name || ' ' || coalesce(description, '')), plainto_tsquery('simple', $1)) as rank
from public.products
where to_tsvector('simple', name || ' ' || coalesce(description, '')) @@ plainto_tsquery('simple', $1)
order by rank desc
limit 20;
