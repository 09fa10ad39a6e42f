-- The least SQL for the first page of `myBookings(first: 20)` of a resident with 500
-- bookings: the newest 21 (20 and one to know there is a next page) through
-- booking_account_idx, each with its performance's title and start (primary key).
-- Variables (pgbench -D): first_regular, last_regular (the regulars' account ids; each
-- transaction reads one of them, as zouqin's clients take turns).
\set account random(:first_regular, :last_regular)
SELECT b.id, b.status, b.created_at, p.title, p.starts_at
  FROM booking b JOIN performance p ON p.id = b.performance_id
 WHERE b.account_id = :account
 ORDER BY b.id DESC
 LIMIT 21;
