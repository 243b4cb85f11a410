-- pg_ops demo platform, part 5: order items, about 3 per order (needs 30_reference_data.sql).
-- Recomputes each order's restaurant and items from the same hashes as 31_orders.sql, so it does not
-- read orders and can run at the same time as that file.

insert into public.order_items (id, order_id, product_id, quantity, unit_price)
select (o.i - 1) * 5 + j,
       pgops_demo.uid(p.seed, 'order', o.i),
       pgops_demo.uid(p.seed, 'product', x.product_no),
       1 + floor(pgops_demo.rnd(p.seed, 15, (o.i - 1) * 5 + j) ^ 3 * 3)::int,
       pgops_demo.price(p.seed, x.product_no)
from pgops_demo.params p,
     lateral (select i, 1 + floor(pgops_demo.rnd(p.seed, 1, i) ^ 2 * p.n_restaurants)::bigint as r
              from generate_series(1, p.n_orders) i) o,
     lateral generate_series(1, 1 + floor(pgops_demo.rnd(p.seed, 11, o.i) * 5)::int) j,
     lateral (select (o.r - 1) * p.products_per_restaurant + 1
                     + floor(pgops_demo.rnd(p.seed, 14, (o.i - 1) * 5 + j) * p.products_per_restaurant)::bigint
                     as product_no offset 0) x;  -- fence: uid() is inlined only for a plain column
