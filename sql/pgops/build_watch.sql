-- What an index build (by backend pid) is doing: its progress, and who it waits for.
select p.phase, p.blocks_done, p.blocks_total, p.tuples_done, p.tuples_total,
       p.lockers_done, p.lockers_total, p.current_locker_pid,
       (select string_agg(format('pid %s (%s, %s, %s s in transaction: %s)', b.pid, b.usename,
                                 coalesce(b.state, '?'), coalesce(extract(epoch from now() - b.xact_start)::int, 0),
                                 left(regexp_replace(coalesce(b.query, ''), '\s+', ' ', 'g'), 60)), '; ')
          from pg_stat_activity b
          where b.pid = any(pg_blocking_pids(%(pid)s)) or b.pid = p.current_locker_pid) as blockers
from pg_stat_progress_create_index p
where p.pid = %(pid)s;
