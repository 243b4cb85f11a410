-- Whether the daily rollup answers a dashboard question exactly: the window is whole UTC days, every
-- day in it is filled, and the caller sees whole restaurants (an admin, or the owner asking about their
-- own restaurant). Otherwise the functions read raw orders through the caller's row-level security.
-- SECURITY DEFINER to read private.rollup_days; it reveals nothing but that yes or no.
-- pg_ops: step=rpc_functions

create or replace function private.rollup_covers(p_start timestamptz, p_end timestamptz, p_restaurant_id uuid)
returns boolean
language plpgsql stable security definer
set search_path = ''
as $$
begin
  -- plpgsql, not sql: it keeps its plans between calls (a SQL function is planned on every call: 1.3 ms)
  return p_end > p_start
     and p_start = ((p_start at time zone 'UTC')::date)::timestamp at time zone 'UTC'
     and p_end = ((p_end at time zone 'UTC')::date)::timestamp at time zone 'UTC'
     and ((select private.is_admin())
          or (p_restaurant_id is not null and p_restaurant_id in (select private.my_restaurant_ids())))
     and not exists (select 1 from private.rollup_days d
                     where d.day >= (p_start at time zone 'UTC')::date and d.day < (p_end at time zone 'UTC')::date
                       and not d.covered);
end
$$;

revoke all on function private.rollup_covers(timestamptz, timestamptz, uuid) from public;
grant execute on function private.rollup_covers(timestamptz, timestamptz, uuid) to authenticated;
