-- Customer app: a common word as it is being typed, its first 4 letters ('chee' for cheese).
-- pg_ops: role=authenticated
-- pg_ops: expect_index=product_search_rank_idx|product_search_document_idx
-- pg_ops: target_ms=15
-- pg_ops: baseline=product_search.baseline.sql

with words as (
  select w.word, w.ndoc, row_number() over (order by w.ndoc desc, w.word) as place, count(*) over () as lexemes,
         (select count(*) from public.products where is_available) as products
  from ts_stat($$select to_tsvector('simple', name || ' ' || coalesce(description, '')) from public.products
                where is_available$$) as w)
select (select customer_id from public.orders limit 1) as sub, left(word, 4) as typed
from words
where ndoc >= products * 0.05 and length(word) >= 6
order by md5(word || $1) limit 50;

select id, restaurant_id, name, price, rank from public.search_products($1);
