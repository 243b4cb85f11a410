-- Customer app: two words that appear together in a product's description ('garlic butter').
-- pg_ops: role=authenticated
-- pg_ops: expect_index=product_search_rank_idx|product_search_document_idx
-- pg_ops: target_ms=10
-- pg_ops: baseline=product_search.baseline.sql

select (select customer_id from public.orders limit 1) as sub,
       (select string_agg(w.word, ' ')
        from (select unnest(tsvector_to_array(to_tsvector('simple', p.description))) as word
              order by md5(p.id::text || 1) limit 2) as w) as words
from public.products p
where p.is_available and p.description is not null
order by md5(p.id::text || $1) limit 50;

select id, restaurant_id, name, price, rank from public.search_products($1);
