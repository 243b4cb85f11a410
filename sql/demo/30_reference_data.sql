-- pg_ops demo platform, part 3: parameters, generator helpers, users, restaurants and the catalog.
-- Needs three settings (pg-ops demo load sets them):
--   set pg_ops.scale = '0.1';   -- 1.0 = 1,000,000 orders
--   set pg_ops.seed = '42';     -- same seed + same anchor = the same rows
--   set pg_ops.anchor = '2026-11-27';  -- UTC day the 90-day history ends on
-- Everything is set-based (generate_series) and derived from hashes of (seed, row number), so each
-- row is computed independently: no row loops, no dependence on evaluation order.

drop table if exists pgops_demo.params;
create table pgops_demo.params as
select seed, scale, anchor,
       greatest(100, round(1000000 * scale))::bigint as n_orders,
       greatest(5, round(500 * scale))::int as n_restaurants,
       greatest(5, round(2000 * scale))::int as n_drivers,
       greatest(20, round(200000 * scale))::int as n_customers,
       5 as n_admins,
       200 as products_per_restaurant
from (select current_setting('pg_ops.seed')::bigint as seed,
             current_setting('pg_ops.scale')::float8 as scale,
             (current_setting('pg_ops.anchor')::date)::timestamp at time zone 'UTC' as anchor) s;

-- Uniform [0, 1) from (seed, stream, i); inlined by the planner, parallel safe.
create or replace function pgops_demo.rnd(seed bigint, stream int, i bigint) returns float8
language sql immutable parallel safe
as $$ select (hashint8extended(i, seed * 1009 + stream) & 4503599627370495)::float8 / 4503599627370496.0 $$;

-- A uuid from two 64-bit hashes. Every call in the body is immutable, so the planner inlines it
-- (an md5 of a concatenated bigint is only STABLE and costs 4x more per row).
create or replace function pgops_demo.uid(seed bigint, kind text, n bigint) returns uuid
language sql immutable parallel safe
as $$ select (lpad(to_hex(hashint8extended(n, seed * 7919 + hashtext(kind))), 16, '0')
              || lpad(to_hex(hashint8extended(n, seed * 7919 + hashtext(kind) + 1)), 16, '0'))::uuid $$;

create or replace function pgops_demo.pick(words text[], u float8) returns text
language sql immutable parallel safe
as $$ select words[1 + floor(u * array_length(words, 1))::int] $$;

create or replace function pgops_demo.price(seed bigint, product_no bigint) returns numeric
language sql immutable parallel safe
as $$ select round((3 + pgops_demo.rnd(seed, 20, product_no) * 37)::numeric, 2) $$;

-- Users: 5 admins, one owner per restaurant, drivers, customers. auth.users first, as Supabase does.
insert into auth.users (id, email, raw_user_meta_data, created_at)
select pgops_demo.uid(p.seed, u.kind, u.n), u.kind || u.n || '@demo.pg-ops.test',
       jsonb_build_object('role', u.role), p.anchor - interval '120 days'
from pgops_demo.params p,
     lateral (
       select 'admin' as kind, 'admin' as role, n from generate_series(1, p.n_admins) n
       union all select 'owner', 'restaurant_owner', n from generate_series(1, p.n_restaurants) n
       union all select 'driver', 'driver', n from generate_series(1, p.n_drivers) n
       union all select 'customer', 'customer', n from generate_series(1, p.n_customers) n
     ) u;

insert into public.profiles (id, role, full_name, phone, created_at)
select u.id, u.raw_user_meta_data ->> 'role',
       initcap(split_part(u.email, '@', 1)),
       '+995 5' || lpad((abs(hashtext(u.email)) % 100000000)::text, 8, '0'),
       u.created_at
from auth.users u;

insert into public.restaurants (id, owner_id, name, cuisine, address, created_at)
select pgops_demo.uid(p.seed, 'restaurant', r),
       pgops_demo.uid(p.seed, 'owner', r),
       pgops_demo.pick(array['Tbilisi', 'Rustaveli', 'Old Town', 'Mtatsminda', 'Vake', 'Saburtalo',
                              'Sololaki', 'Didube', 'Gldani', 'Ortachala'], pgops_demo.rnd(p.seed, 30, r))
         || ' ' || pgops_demo.pick(array['Kitchen', 'Grill', 'Bakery', 'Diner', 'Bistro', 'House',
                                          'Garden', 'Corner'], pgops_demo.rnd(p.seed, 31, r)) || ' #' || r,
       pgops_demo.pick(array['Georgian', 'Italian', 'American', 'Asian', 'Mediterranean', 'Vegan'],
                        pgops_demo.rnd(p.seed, 32, r)),
       'Tbilisi, street ' || (1 + r % 300) || ', building ' || (1 + r % 40),
       p.anchor - interval '100 days'
from pgops_demo.params p, generate_series(1, p.n_restaurants) r;

-- The catalog: 200 products per restaurant; half named in Georgian, half in English, so full-text
-- search meets both scripts. 2 % of descriptions carry one of 40 rare words.
insert into public.products (id, restaurant_id, name, description, category, price, is_available, created_at)
select pgops_demo.uid(p.seed, 'product', x.n),
       pgops_demo.uid(p.seed, 'restaurant', x.r),
       x.adjective || ' ' || x.dish,
       x.adjective || ' ' || x.dish || x.joiner || x.w1 || ', ' || x.w2 || ', ' || x.w3 || x.rare,
       x.category,
       pgops_demo.price(p.seed, x.n),
       pgops_demo.rnd(p.seed, 46, x.n) < 0.9,
       p.anchor - interval '95 days'
from pgops_demo.params p,
     lateral (
       select n, r, d.dish, d.category,
              pgops_demo.pick(case when georgian then array['აჭარული', 'იმერული', 'მეგრული', 'ცხარე', 'შემწვარი',
                    'ქათმის', 'ღორის', 'ხბოს', 'სოკოს', 'ყველის', 'ტრადიციული', 'საოჯახო']
                  else array['spicy', 'grilled', 'cheese', 'chicken', 'beef', 'vegan', 'crispy', 'smoked',
                    'garlic', 'mushroom', 'classic', 'homemade', 'double', 'fresh'] end,
                  pgops_demo.rnd(p.seed, 41, n)) as adjective,
              case when georgian then ' - ' else ' with ' end as joiner,
              pgops_demo.pick(case when georgian then ingredients_ka else ingredients_en end, pgops_demo.rnd(p.seed, 42, n)) as w1,
              pgops_demo.pick(case when georgian then ingredients_ka else ingredients_en end, pgops_demo.rnd(p.seed, 43, n)) as w2,
              pgops_demo.pick(case when georgian then ingredients_ka else ingredients_en end, pgops_demo.rnd(p.seed, 44, n)) as w3,
              case when pgops_demo.rnd(p.seed, 45, n) < 0.02 then ' ' || pgops_demo.pick(array[
                  'saffron', 'truffle', 'tamarind', 'sumac', 'fenugreek', 'cardamom', 'pistachio', 'quince',
                  'pomegranate', 'tarragon', 'barberry', 'marigold', 'chestnut', 'persimmon', 'fig', 'anise',
                  'juniper', 'sorrel', 'hazelnut', 'plum',
                  'სულგუნი', 'ჯონჯოლი', 'ტარხუნა', 'ბროწეული', 'კომში', 'წაბლი', 'ხურმა', 'ლეღვი',
                  'ანისული', 'ღვია', 'მჟაუნა', 'თხილი', 'ქლიავი', 'ზაფრანა', 'კამა', 'ოხრახუში', 'ძმარი',
                  'ბალი', 'ატამი', 'მოცხარი'], pgops_demo.rnd(p.seed, 47, n))
                else '' end as rare
       from (select n, 1 + (n - 1) / p.products_per_restaurant as r,
                    pgops_demo.rnd(p.seed, 40, n) < 0.5 as georgian,
                    array['პომიდორი', 'ხახვი', 'ნიორი', 'ყველი', 'მწვანილი', 'ნიგოზი', 'წიწაკა', 'კარტოფილი',
                          'კარაქი', 'კვერცხი', 'ნაღები', 'რეჰანი', 'ლიმონი', 'ბრინჯი', 'ლობიო', 'პიტნა',
                          'ქინძი', 'ტყემალი', 'პური', 'სოუსი'] as ingredients_ka,
                    array['tomato', 'onion', 'garlic', 'cheese', 'herbs', 'walnut', 'pepper', 'potato',
                          'butter', 'egg', 'cream', 'basil', 'lemon', 'rice', 'beans', 'mint', 'coriander',
                          'chili', 'bread', 'sauce'] as ingredients_en
             from generate_series(1, p.n_restaurants::bigint * p.products_per_restaurant) n) base,
       lateral (select dishes[k] as dish, categories[k] as category
                from (select case when base.georgian
                         then array['ხაჭაპური', 'ხინკალი', 'მწვადი', 'ლობიანი', 'ფხალი', 'ჩაქაფული', 'აჯაფსანდალი',
                                    'სალათი', 'ჩახოხბილი', 'ოჯახური', 'შქმერული', 'ელარჯი', 'საცივი', 'ხარჩო',
                                    'ჩურჩხელა', 'ლიმონათი']
                         else array['pizza', 'burger', 'salad', 'soup', 'cake', 'lemonade', 'omelette', 'noodles',
                                    'steak', 'croissant', 'falafel', 'shrimp', 'pasta', 'fries', 'dumplings', 'tacos'] end
                             as dishes,
                             case when base.georgian
                         then array['Bakery', 'Georgian', 'Grill', 'Bakery', 'Vegan', 'Soups', 'Vegan', 'Salads',
                                    'Georgian', 'Grill', 'Georgian', 'Sides', 'Georgian', 'Soups', 'Desserts', 'Drinks']
                         else array['Pizza', 'Burgers', 'Salads', 'Soups', 'Desserts', 'Drinks', 'Breakfast', 'Asian',
                                    'Grill', 'Bakery', 'Vegan', 'Seafood', 'Pasta', 'Sides', 'Asian', 'Mexican'] end
                             as categories,
                             1 + floor(pgops_demo.rnd(p.seed, 48, base.n) * 16)::int as k) a) d
     ) x;
