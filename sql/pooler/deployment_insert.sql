insert into pgops.pooler_deployments
  (started_at, pooler, ini_path, outcome, detail, window_note, restarted, seconds, changes, ini_sha256, ini)
values (%(started_at)s, %(pooler)s, %(ini_path)s, %(outcome)s, %(detail)s, %(window_note)s, %(restarted)s,
        %(seconds)s, %(changes)s, %(ini_sha256)s, %(ini)s)
returning id
