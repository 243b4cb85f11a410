-- The newest run of a phase, other than the one given.
select run_id from pgops.benchmark_runs where phase = %s and run_id::text <> %s
  order by measured_at desc limit 1
