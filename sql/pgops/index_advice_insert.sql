insert into pgops.index_advice (run_id, index_name, definition, planted, for_queries, inside_functions,
                                estimated_cost_before, estimated_cost_after, p95_ms_before, p95_ms_after,
                                p95_ms_without, write_ms_before, write_ms_after, decision, reason)
values (%(run_id)s, %(index_name)s, %(definition)s, %(planted)s, %(for_queries)s, %(inside_functions)s,
        %(estimated_cost_before)s, %(estimated_cost_after)s, %(p95_ms_before)s, %(p95_ms_after)s,
        %(p95_ms_without)s, %(write_ms_before)s, %(write_ms_after)s, %(decision)s, %(reason)s);
