-- What an index build (by backend pid) is doing: its progress, and who it waits for.
-- Concatenation rather than format() with its percent placeholders: the file runs with a named
-- parameter, and psycopg reads every percent sign in the text (comments too) as a placeholder.
select p.phase, p.blocks_done, p.blocks_total, p.tuples_done, p.tuples_total,
       p.lockers_done, p.lockers_total, p.current_locker_pid,
       (select string_agg('pid ' || b.pid || ' (' || coalesce(b.usename::text, '?') || ', '
                          || coalesce(b.state, '?') || ', '
                          || coalesce(extract(epoch from now() - b.xact_start)::int, 0) || ' s in transaction: '
                          || left(regexp_replace(coalesce(b.query, ''), '\s+', ' ', 'g'), 60) || ')', '; ')
          from pg_stat_activity b
          where b.pid = any(pg_blocking_pids(%(pid)s)) or b.pid = p.current_locker_pid) as blockers
from pg_stat_progress_create_index p
where p.pid = %(pid)s;
