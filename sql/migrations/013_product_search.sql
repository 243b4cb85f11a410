-- Catalog search: each product's search document (a tsvector) stored beside the product, in a side
-- table keyed by product, so `select *` on products returns what it always did (apps on PostgREST ask
-- for *). A trigger keeps it current from here on; 014 fills it for the products that exist, in batches;
-- 015 and 016 index it concurrently.
--
-- The document weighs the name (A) above the description (D): a word in a product's name ranks it
-- above a product that only mentions the word. 'simple' configuration, so Georgian words are indexed
-- as written.
--
-- Why the backfill cannot lose a write: the trigger upserts (the newest row wins), the backfill only
-- inserts what is missing (ON CONFLICT DO NOTHING) and holds its batch's products FOR KEY SHARE, so a
-- product deleted meanwhile waits for the batch and then takes its document with it.
-- pg_ops: step=rpc_functions
-- pg_ops: transaction=on

create schema if not exists private;

create or replace function private.product_document(p_name text, p_description text) returns tsvector
language sql immutable parallel safe
set search_path = ''
as $$
  select pg_catalog.setweight(pg_catalog.to_tsvector('simple'::regconfig, coalesce(p_name, '')), 'A')
         operator(pg_catalog.||)
         pg_catalog.setweight(pg_catalog.to_tsvector('simple'::regconfig, coalesce(p_description, '')), 'D')
$$;

create table if not exists private.product_search (
  product_id uuid primary key,   -- public.products.id; kept in step by the trigger below, not by a foreign key
  available boolean not null,    -- public.products.is_available: search shows available products only
  document tsvector not null
);

create or replace function private.product_search_sync() returns trigger
language plpgsql security definer set search_path = ''
as $$
begin
  if tg_op = 'DELETE' then
    delete from private.product_search where product_id = old.id;
    return null;
  end if;
  if tg_op = 'UPDATE' and new.id is distinct from old.id then
    delete from private.product_search where product_id = old.id;
  end if;
  insert into private.product_search as s (product_id, available, document)
  values (new.id, new.is_available, private.product_document(new.name, new.description))
  on conflict (product_id) do update set available = excluded.available, document = excluded.document;
  return null;
end
$$;

revoke all on function private.product_search_sync() from public;
revoke all on private.product_search from public, anon, authenticated;

drop trigger if exists products_search_sync on public.products;
create trigger products_search_sync
  after insert or delete or update of id, name, description, is_available
  on public.products for each row execute function private.product_search_sync();

-- Batch by batch in product id order, each batch its own transaction (CALL it outside a transaction
-- block). A procedure that commits may not carry SET search_path, so every name in it is qualified.
create or replace procedure private.product_search_backfill(p_batch integer default 5000)
language plpgsql
as $$
declare
  last_id uuid;
  batch_last uuid;
begin
  loop
    with batch as (
      select p.id, p.is_available, p.name, p.description
      from public.products p
      where last_id is null or p.id > last_id
      order by p.id
      limit p_batch
      for key share
    ), filled as (
      insert into private.product_search (product_id, available, document)
      select b.id, b.is_available, private.product_document(b.name, b.description) from batch b
      on conflict (product_id) do nothing
    )
    select b.id into batch_last from batch b order by b.id desc limit 1;
    exit when batch_last is null;
    last_id := batch_last;
    commit;
  end loop;
end
$$;

revoke all on procedure private.product_search_backfill(integer) from public;
