-- Indexes the advisor kept: a later run leaves them alone (any other pgops_advised_* index is a leftover of an
-- interrupted run).
select distinct on (index_name) index_name, decision from pgops.index_advice order by index_name, decided_at desc;
