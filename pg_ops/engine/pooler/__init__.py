"""PgBouncer in front of the database: its settings rendered into files, proven on a candidate."""
