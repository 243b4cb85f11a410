-- pg_ops demo platform, part 7: fresh statistics and visibility map, as a settled database has.
vacuum (analyze) ;
