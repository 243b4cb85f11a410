-- The connecting role: superuser, and whether it may create schemas in this database.
select current_user as name, rolsuper, has_database_privilege(current_database(), 'CREATE') as can_create from pg_roles where rolname = current_user
