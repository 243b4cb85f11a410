-- The file pg_ops last left running on this pooler: the base a hand edit is shown against.
select ini, finished_at
from pgops.pooler_deployments
where pooler = %(pooler)s and ini_path = %(ini_path)s and outcome in ('deployed', 'unchanged')
order by id desc
limit 1
