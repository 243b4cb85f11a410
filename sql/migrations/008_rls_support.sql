-- Row-level security: policies look up restaurants by owner and profiles by id and role.
-- pg_ops: step=index_migrations
-- pg_ops: transaction=off

create index concurrently if not exists restaurants_owner_id_idx
  on public.restaurants (owner_id);

create index concurrently if not exists profiles_id_role_idx
  on public.profiles (id) include (role);
