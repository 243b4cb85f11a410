-- Save an allow/deny matrix under its label.
insert into pgops.rls_matrix (label, matrix) values (%s, %s) on conflict (label) do update set matrix = excluded.matrix, taken_at = now()
