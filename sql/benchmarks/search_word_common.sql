-- Customer app: one common word, in 5-20 % of products (about 10 %), Georgian or English.
-- pg_ops: role=authenticated
-- pg_ops: expect_index=product_search_rank_idx|product_search_document_idx
-- pg_ops: target_ms=10
-- pg_ops: baseline=product_search.baseline.sql

with words as (
  select w.word, w.ndoc, row_number() over (order by w.ndoc desc, w.word) as place, count(*) over () as lexemes,
         (select count(*) from public.products where is_available) as products
  from ts_stat($$select to_tsvector('simple', name || ' ' || coalesce(description, '')) from public.products
                where is_available$$) as w)
select (select customer_id from public.orders limit 1) as sub, word
from words
where place > ceil(lexemes * 0.01) and ndoc >= products * 0.05 and ndoc < products * 0.20
order by md5(word || $1) limit 50;

select id, restaurant_id, name, price, rank from public.search_products($1);
