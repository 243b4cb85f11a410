-- When each statement first appears in the capture history, and when the history starts: a statement first
-- seen on a day after the first capture is new that day.
select queryid, userid, min(taken_at) as first_seen, min(min(taken_at)) over () as history_start
from pgops.statement_captures
where database = %(database)s
group by queryid, userid
