-- Admin dashboard of the last 30 days as supabase-js sends it: four POST /rpc/<function> requests, each
-- PostgREST's settings select, then its call with the JSON body {"p_start", "p_end"} read by json_to_record
-- into named arguments (pg_ops.engine.proof.postgrest builds these statements; the suite runner sets the
-- role and request.jwt.claims, as PostgREST's settings select does).
-- pg_ops: role=authenticated
-- pg_ops: target_ms=25

select p.id as sub,
       json_build_object('p_start', now() - interval '30 days', 'p_end', now())::text as body
from public.profiles p where p.role = 'admin' and $1::text is not null;

select set_config('search_path', '"public", "extensions"', true), set_config('role', 'authenticated', true),
       set_config('request.method', 'POST', true), set_config('request.path', '/rpc/calculate_on_time_rate', true);
with pgrst_source as (select pgrst_call.pgrst_scalar from (select $1::json as json_data) pgrst_payload,
  lateral (select "p_start", "p_end" from json_to_record(pgrst_payload.json_data) as _("p_start" timestamp with time zone, "p_end" timestamp with time zone) limit 1) pgrst_body,
  lateral (select "public"."calculate_on_time_rate"("p_start" := pgrst_body."p_start", "p_end" := pgrst_body."p_end") pgrst_scalar) pgrst_call)
select coalesce((json_agg(_postgrest_t.pgrst_scalar)->0)::text, 'null') as body from (select * from pgrst_source) _postgrest_t;

select set_config('search_path', '"public", "extensions"', true), set_config('role', 'authenticated', true),
       set_config('request.method', 'POST', true), set_config('request.path', '/rpc/calculate_avg_delivery_time', true);
with pgrst_source as (select pgrst_call.pgrst_scalar from (select $1::json as json_data) pgrst_payload,
  lateral (select "p_start", "p_end" from json_to_record(pgrst_payload.json_data) as _("p_start" timestamp with time zone, "p_end" timestamp with time zone) limit 1) pgrst_body,
  lateral (select "public"."calculate_avg_delivery_time"("p_start" := pgrst_body."p_start", "p_end" := pgrst_body."p_end") pgrst_scalar) pgrst_call)
select coalesce((json_agg(_postgrest_t.pgrst_scalar)->0)::text, 'null') as body from (select * from pgrst_source) _postgrest_t;

select set_config('search_path', '"public", "extensions"', true), set_config('role', 'authenticated', true),
       set_config('request.method', 'POST', true), set_config('request.path', '/rpc/calculate_revenue_metrics', true);
with pgrst_source as (select pgrst_call.* from (select $1::json as json_data) pgrst_payload,
  lateral (select "p_start", "p_end" from json_to_record(pgrst_payload.json_data) as _("p_start" timestamp with time zone, "p_end" timestamp with time zone) limit 1) pgrst_body,
  lateral "public"."calculate_revenue_metrics"("p_start" := pgrst_body."p_start", "p_end" := pgrst_body."p_end") pgrst_call)
select coalesce(json_agg(_postgrest_t), '[]')::text as body from (select * from pgrst_source) _postgrest_t;

select set_config('search_path', '"public", "extensions"', true), set_config('role', 'authenticated', true),
       set_config('request.method', 'POST', true), set_config('request.path', '/rpc/get_order_status_distribution', true);
with pgrst_source as (select pgrst_call.* from (select $1::json as json_data) pgrst_payload,
  lateral (select "p_start", "p_end" from json_to_record(pgrst_payload.json_data) as _("p_start" timestamp with time zone, "p_end" timestamp with time zone) limit 1) pgrst_body,
  lateral "public"."get_order_status_distribution"("p_start" := pgrst_body."p_start", "p_end" := pgrst_body."p_end") pgrst_call)
select coalesce(json_agg(_postgrest_t), '[]')::text as body from (select * from pgrst_source) _postgrest_t;
