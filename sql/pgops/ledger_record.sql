-- Record one migration file's outcome in the ledger (run with named parameters by pg_ops.ledger).
insert into pgops.schema_migrations (version, name, kind, step, sha256, duration_ms, outcome, error)
values (%(version)s, %(name)s, %(kind)s, %(step)s, %(sha256)s, %(duration_ms)s, %(outcome)s, %(error)s)
on conflict (version) do update
   set name = excluded.name, kind = excluded.kind, step = excluded.step, sha256 = excluded.sha256,
       applied_at = now(), duration_ms = excluded.duration_ms, applied_by = current_user,
       outcome = excluded.outcome, error = excluded.error;
