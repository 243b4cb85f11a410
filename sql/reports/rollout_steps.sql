-- Each rollout step's files from the migration ledger: how many, how long their statements took, when.
select step, count(*) as files, sum(duration_ms) as duration_ms, min(applied_at) as first_applied,
       max(applied_at) as last_applied
from pgops.schema_migrations
where outcome = 'success'
group by step
order by min(applied_at)
