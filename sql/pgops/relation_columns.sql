-- The columns of a relation, or no row when it does not exist. An empty schema means "as the search_path
-- resolves the name", as a migration file's unqualified name would be resolved.
select array(select attname::text from pg_attribute
             where attrelid = r.oid and attnum > 0 and not attisdropped) as columns
from (select to_regclass(case when %(schema)s = '' then quote_ident(%(table)s)
                              else quote_ident(%(schema)s) || '.' || quote_ident(%(table)s) end) as oid) r
where r.oid is not null;
