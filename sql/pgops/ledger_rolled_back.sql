-- Mark a file rolled back (or its down failed) in the ledger (named parameters, from pg_ops.ledger).
update pgops.schema_migrations
   set outcome = %(outcome)s, applied_at = now(), duration_ms = %(duration_ms)s, applied_by = current_user,
       error = %(error)s
 where version = %(version)s;
