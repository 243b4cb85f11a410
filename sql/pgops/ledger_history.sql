-- Append one up or down to pgops.migration_history (named parameters, from pg_ops.ledger).
insert into pgops.migration_history (version, direction, sha256, duration_ms, outcome, error)
values (%(version)s, %(direction)s, %(sha256)s, %(duration_ms)s, %(outcome)s, %(error)s);
