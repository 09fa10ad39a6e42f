-- The least SQL for `exchangeReport(year)` as a center's staff sees it: the exchange sessions
-- (origin <> host, drafts aside) of the pairs the center is part of that start in the year
-- (Asia/Shanghai), by quarter and pair; then their live tickets by quarter, pair and holder's
-- home center (kept on the ticket). Two aggregates, as the report needs both; no allocation
-- join and no names (three centers' names are a lookup the client could cache). The quarter
-- bounds are computed once per statement (a materialized CTE), not per row.
-- Variables (pgbench -D): center, year.
WITH q AS MATERIALIZED (SELECT make_timestamptz(:year, 1, 1, 0, 0, 0, 'Asia/Shanghai') AS q1,
                  make_timestamptz(:year, 4, 1, 0, 0, 0, 'Asia/Shanghai') AS q2,
                  make_timestamptz(:year, 7, 1, 0, 0, 0, 'Asia/Shanghai') AS q3,
                  make_timestamptz(:year, 10, 1, 0, 0, 0, 'Asia/Shanghai') AS q4,
                  make_timestamptz(:year + 1, 1, 1, 0, 0, 0, 'Asia/Shanghai') AS q5)
SELECT CASE WHEN p.starts_at < q.q2 THEN 1 WHEN p.starts_at < q.q3 THEN 2
            WHEN p.starts_at < q.q4 THEN 3 ELSE 4 END AS quarter,
       p.origin_center_id, p.host_center_id, count(*) AS scheduled,
       count(*) FILTER (WHERE p.status = 'PUBLISHED' AND p.ends_at <= now()) AS held,
       count(*) FILTER (WHERE p.status = 'CANCELLED') AS cancelled,
       sum(p.capacity) FILTER (WHERE p.status = 'PUBLISHED') AS seats_offered
  FROM q JOIN performance p ON p.starts_at >= q.q1 AND p.starts_at < q.q5
 WHERE p.origin_center_id <> p.host_center_id AND p.status <> 'DRAFT'
   AND (p.origin_center_id = :center OR p.host_center_id = :center)
 GROUP BY 1, 2, 3;
WITH q AS MATERIALIZED (SELECT make_timestamptz(:year, 1, 1, 0, 0, 0, 'Asia/Shanghai') AS q1,
                  make_timestamptz(:year, 4, 1, 0, 0, 0, 'Asia/Shanghai') AS q2,
                  make_timestamptz(:year, 7, 1, 0, 0, 0, 'Asia/Shanghai') AS q3,
                  make_timestamptz(:year, 10, 1, 0, 0, 0, 'Asia/Shanghai') AS q4,
                  make_timestamptz(:year + 1, 1, 1, 0, 0, 0, 'Asia/Shanghai') AS q5)
SELECT CASE WHEN p.starts_at < q.q2 THEN 1 WHEN p.starts_at < q.q3 THEN 2
            WHEN p.starts_at < q.q4 THEN 3 ELSE 4 END AS quarter,
       p.origin_center_id, p.host_center_id, t.home_center_id, count(*) AS tickets,
       count(*) FILTER (WHERE t.status = 'CHECKED_IN') AS attendances,
       count(*) FILTER (WHERE t.status = 'NO_SHOW') AS no_shows
  FROM q JOIN performance p ON p.starts_at >= q.q1 AND p.starts_at < q.q5
  JOIN ticket t ON t.performance_id = p.id
 WHERE p.origin_center_id <> p.host_center_id AND p.status <> 'DRAFT'
   AND (p.origin_center_id = :center OR p.host_center_id = :center)
   AND t.status <> 'CANCELLED'
 GROUP BY 1, 2, 3, 4;
