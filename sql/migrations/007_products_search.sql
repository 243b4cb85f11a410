-- Product search: full text over name and description. 'simple' configuration, so Georgian words are indexed as written.
-- pg_ops: step=index_migrations
-- pg_ops: transaction=off

create index concurrently if not exists products_search_idx
  on public.products using gin (to_tsvector('simple', name || ' ' || coalesce(description, '')));
