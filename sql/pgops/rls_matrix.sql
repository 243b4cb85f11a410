-- Where the RLS allow/deny matrix is kept between the baseline and the validation.
create table if not exists pgops.rls_matrix (label text primary key, taken_at timestamptz not null default now(), matrix jsonb not null)
