-- pg_stat_statements' own health: how many entries it had to evict (raise pg_stat_statements.max when
-- this grows) and when it was last reset. Counted without the query texts, which would be read from disk.
-- pg_ops: step=monitoring_schema

-- Dropped and recreated in one transaction: CREATE OR REPLACE cannot change a column's type.
drop view if exists monitoring.statements_info;
create view monitoring.statements_info as
select i.dealloc as deallocations, i.stats_reset,
       extract(epoch from i.stats_reset)::bigint as stats_reset_epoch,
       (select count(*) from pg_stat_statements(showtext => false)) as entries,
       current_setting('pg_stat_statements.max')::bigint as max_entries
from pg_stat_statements_info i;
