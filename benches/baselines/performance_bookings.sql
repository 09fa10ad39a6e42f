-- The least SQL for the first page of `performanceBookings(first: 20)` of a sold-out
-- 3,000-seat session: its newest 21 bookings through booking_performance_idx, each with its
-- holder's display name (primary key). Variable (pgbench -D): performance.
SELECT b.id, b.status, b.created_at, a.display_name
  FROM booking b JOIN account a ON a.id = b.account_id
 WHERE b.performance_id = :performance
 ORDER BY b.id DESC
 LIMIT 21;
