-- The least SQL for the first page of `auditLog(first: 20)` of a center: its newest 21
-- entries through audit_entry_center_idx. Variable (pgbench -D): center.
SELECT e.id, e.at, e.action, e.subject_type, e.subject_id, e.details
  FROM audit_entry e
 WHERE e.center_id = :center
 ORDER BY e.id DESC
 LIMIT 21;
