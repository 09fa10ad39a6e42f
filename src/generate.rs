//! `zouqin generate`: fills an empty PostgreSQL database with a synthetic Shanghai-sized
//! load — at scale 1.0, 5 M residents of 63 centers (the three of DOMAIN.md and
//! 60 synthetic ones), 4,000 venues, 200,000 performances over five years (3½ past, 1½ to
//! come), about 10 M tickets, their check-ins, no-shows, waiting lists and audit entries,
//! ten regulars with 500 bookings each and a 3,000-seat venue whose sessions sell out — by
//! set-based SQL (`INSERT … SELECT … FROM generate_series`), never row by row, then
//! `VACUUM (ANALYZE)`: statistics for the planner, and the visibility map a database in
//! service has from autovacuum (index-only scans rely on it; left to autovacuum, the
//! freshly loaded tables would be vacuumed in the middle of whatever runs next).
//!
//! Every row satisfies the schema's constraints and the invariants the server keeps:
//!
//! - ids are explicit and computed (a performance's inventory, bookings and tickets are
//!   contiguous id ranges found by running sums), so every reference is known without a
//!   lookup; the sequences are moved past them at the end;
//! - sessions of a venue are spaced days apart: no two overlap;
//! - a published (or cancelled) performance has one inventory row per seat or place, its
//!   sold places are the first ones (the front rows), each live ticket's inventory row names
//!   its booking, and a cancelled booking's tickets are cancelled and its seats free;
//! - `seat_pool` slots (laid out like [`crate::domain::shares`] does) count exactly the live
//!   tickets; a seat share sells nothing (its performance sells only from the open pool);
//! - `resident_hold` is the live tickets of each resident per performance, within the
//!   per-resident limit (a resident books a performance at most once);
//! - tickets of ended sessions are `CHECKED_IN` (by the host center's usher) or `NO_SHOW`
//!   (a no-show booking, recorded in `no_show`, the performance settled), and
//!   `booking_suspension` follows from the no-shows with the default policy;
//! - the audit log holds what staff did: venues created, performances scheduled,
//!   published and cancelled, tickets checked in;
//! - sold-out sessions (every session of the 3,000-seat [`ARENA_VENUE`] and one published
//!   session in 47 without a share) have no cancelled booking, so nothing is free; those to
//!   come have WAITING entries (parties of 1 or 2, which a resident's booking of at most 4
//!   keeps within the limit of 6), past ones a BOOKED entry (the last booking's holder), an
//!   EXPIRED and a LEFT one. A waiting list is only where nothing is free, as the server
//!   keeps it (a freed seat is offered before its transaction commits);
//! - [`REGULARS`] residents hold booking `k` of the same [`REGULAR_BOOKINGS`] performances
//!   (spread over the five years by a hash order), one booking each per performance.
//!
//! Every generated account has the one password given to the command.

use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};

use crate::db::Database;

/// How many accounts of each center are staff: a CENTER_ADMIN, a SCHEDULER, an USHER.
const STAFF_PER_CENTER: i64 = 3;
/// The three centers of DOMAIN.md and the synthetic ones.
const CENTERS: i64 = 63;
/// The first resident's id (after the staff of every center).
const FIRST_RESIDENT: i64 = CENTERS * STAFF_PER_CENTER + 1;
/// Regulars: residents (after the ordinary ones, `regular<k>@big.zouqin.example`) who each
/// booked [`REGULAR_BOOKINGS`] distinct performances, so a resident's own lists are measured
/// at the length of the most assiduous visitor, not of the average one (two bookings).
pub const REGULARS: i64 = 10;
/// Performances each regular booked (fewer only when the scale has fewer eligible ones).
pub const REGULAR_BOOKINGS: i64 = 500;
/// The one venue that seats 3,000 (50 rows of 60): every session there sells out, so a
/// session's booking list is measured at its largest (about 1,200 bookings).
pub const ARENA_VENUE: i64 = 1;

/// Why SQLite is refused.
pub const NEEDS_POSTGRES: &str = "generate needs PostgreSQL (DATABASE_URL=postgres://…): it fills \
     the database with generate_series, which SQLite does not have, at sizes SQLite is not meant for";

/// The sizes of a generated database.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    /// The fraction of the full size (1.0: 5 M residents, 200,000 performances).
    pub scale: f64,
    /// Resident accounts.
    pub residents: i64,
    /// Venues.
    pub venues: i64,
    /// Performances.
    pub performances: i64,
}

impl Plan {
    /// The plan at `scale` (more than 0, at most 10), with a floor that keeps a tiny scale
    /// meaningful.
    pub fn at_scale(scale: f64) -> Result<Self, String> {
        if !(scale > 0.0 && scale <= 10.0) {
            return Err(format!(
                "--scale must be above 0 and at most 10, not {scale}"
            ));
        }
        let of = |full: f64, floor: i64| ((full * scale).round() as i64).max(floor);
        Ok(Self {
            scale,
            residents: of(5_000_000.0, 10_000),
            venues: of(4_000.0, 10),
            performances: of(200_000.0, 200),
        })
    }
}

/// What one generation did.
#[derive(Debug, Clone)]
pub struct Report {
    /// Each step and how long it took.
    pub steps: Vec<(&'static str, Duration)>,
    /// The whole run, `VACUUM (ANALYZE)` included.
    pub elapsed: Duration,
    /// `pg_database_size` afterwards.
    pub database_bytes: i64,
    /// Rows per table (exact counts of the generated tables).
    pub rows: Vec<(String, i64)>,
}

/// The statements of one generation, in order: (step name, SQL).
///
/// `password_hash` is stored for every account; `now` separates the past from the future.
pub fn statements(
    plan: &Plan,
    password_hash: &str,
    now: DateTime<Utc>,
) -> Vec<(&'static str, String)> {
    let now = now.to_rfc3339_opts(SecondsFormat::Micros, true);
    let hash = password_hash.replace('\'', "''");
    let Plan {
        residents,
        venues,
        performances,
        ..
    } = *plan;
    vec![
        ("parameters", format!(
            "CREATE TEMP TABLE gen_param ON COMMIT DROP AS SELECT \
               {residents}::bigint AS residents, {venues}::bigint AS venues, \
               {performances}::bigint AS perfs, '{now}'::timestamptz AS now, \
               date_trunc('day', '{now}'::timestamptz - interval '1278 days') + interval '11 hours' AS t0, \
               ceil({performances}::numeric / {venues})::bigint AS per_venue"
        )),
        ("centers", format!(
            "INSERT INTO center (id, code, name, region, created_at) \
             SELECT c.id, c.code, c.name, c.region, p.t0 - interval '60 days' FROM gen_param p, (VALUES \
               (1, 'pinghu', '平湖市文化馆', '浙江省嘉兴市平湖市'), \
               (2, 'jinshan', '金山区文化馆', '上海市金山区'), \
               (3, 'jiashan', '嘉善县文化馆', '浙江省嘉兴市嘉善县')) c(id, code, name, region) \
             UNION ALL \
             SELECT 3 + g, 'syn' || lpad(g::text, 2, '0'), '合成文化馆' || g || '号', '合成区' || g, \
                    p.t0 - interval '60 days' \
             FROM gen_param p, generate_series(1, {synthetic}) g",
            synthetic = CENTERS - 3
        )),
        ("staff", format!(
            "INSERT INTO account (id, email, password_hash, display_name, role, center_id, home_center_id, active, created_at) \
             SELECT {STAFF_PER_CENTER} * (c.id - 1) + r.k, r.name || '@' || c.code || '.example', '{hash}', \
                    c.name || ' ' || r.name, r.role, c.id, NULL, TRUE, p.t0 - interval '60 days' \
             FROM center c, gen_param p, \
                  (VALUES (1, 'admin', 'CENTER_ADMIN'), (2, 'scheduler', 'SCHEDULER'), (3, 'usher', 'USHER')) r(k, name, role)"
        )),
        // Home centers: 30 % Pinghu, 30 % Jinshan, 20 % Jiashan, 20 % the synthetic ones.
        ("residents", format!(
            "INSERT INTO account (id, email, password_hash, display_name, role, center_id, home_center_id, active, created_at) \
             SELECT {FIRST_RESIDENT} + g, 'resident' || g || '@big.zouqin.example', '{hash}', '居民' || g, \
                    'RESIDENT', NULL, \
                    {home}, TRUE, p.now - (g % 1800) * interval '1 day' \
             FROM gen_param p, generate_series(0, p.residents - 1) g \
             UNION ALL \
             SELECT {FIRST_RESIDENT} + p.residents + k, 'regular' || k || '@big.zouqin.example', '{hash}', \
                    '常客' || k, 'RESIDENT', NULL::bigint, {regular_home}, TRUE, p.t0 - interval '30 days' \
             FROM gen_param p, generate_series(0, {REGULARS} - 1) k",
            home = resident_home("g"),
            regular_home = regular_home("k"),
        )),
        // Venues: 10 % at each of the three centers, the rest among the synthetic ones.
        // Most theatres seat 50 to 340 (5 to 14 rows of 10 to 24), one venue in 50 is a
        // 1,200-seat house, venue 1 a 3,000-seat arena; one in five is general admission (80
        // to 380 places; one venue in 200 a 2,000-place outdoor site). `seat_base` makes seat
        // ids computable.
        ("venue plan", format!(
            "CREATE TEMP TABLE gen_venue ON COMMIT DROP AS \
             SELECT x.*, CASE WHEN x.seating = 'RESERVED' THEN x.rows * x.row_size ELSE x.places END AS capacity, \
                    COALESCE(SUM(CASE WHEN x.seating = 'RESERVED' THEN x.rows * x.row_size ELSE 0 END) \
                        OVER (ORDER BY x.id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS seat_base \
             FROM (SELECT v AS id, \
                     CASE v % 10 WHEN 0 THEN 1 WHEN 1 THEN 2 WHEN 2 THEN 3 ELSE 4 + v % {synthetic} END AS center_id, \
                     CASE WHEN v % 5 = 4 THEN 'GENERAL_ADMISSION' ELSE 'RESERVED' END AS seating, \
                     CASE WHEN v = {ARENA_VENUE} THEN 50 WHEN v % 50 = 7 THEN 30 ELSE 5 + (v * 7) % 10 END AS rows, \
                     CASE WHEN v = {ARENA_VENUE} THEN 60 WHEN v % 50 = 7 THEN 40 ELSE 10 + (v * 13) % 15 END AS row_size, \
                     CASE WHEN v % 200 = 4 THEN 2000 ELSE 80 + (v * 37) % 300 END AS places \
                   FROM gen_param p, generate_series(1, p.venues) v) x",
            synthetic = CENTERS - 3
        )),
        ("venues",
            "INSERT INTO venue (id, center_id, name, address, kind, seating, capacity, lock_version, created_at) \
             SELECT v.id, v.center_id, \
                    c.name || CASE WHEN v.seating = 'RESERVED' THEN '剧场' ELSE '场馆' END || v.id || '号', \
                    c.region || '文化路' || v.id || '号', \
                    CASE WHEN v.seating = 'RESERVED' THEN 'THEATER' WHEN v.id % 100 = 4 THEN 'OUTDOOR' \
                         WHEN v.id % 3 = 0 THEN 'GALLERY' ELSE 'HALL' END, \
                    v.seating, v.capacity, 0, p.t0 - interval '30 days' \
             FROM gen_venue v JOIN center c ON c.id = v.center_id, gen_param p".to_owned()
        ),
        ("seats",
            "INSERT INTO seat (id, venue_id, section, row_label, number, section_order, row_rank, row_size, accessible, label) \
             SELECT v.seat_base + (r - 1) * v.row_size + n, v.id, '池座', r::text, n, 0, r - 1, v.row_size, \
                    r = v.rows AND n <= 2, '池座' || r || '排' || n || '座' \
             FROM gen_venue v, generate_series(1, v.rows) r, generate_series(1, v.row_size) n \
             WHERE v.seating = 'RESERVED'".to_owned()
        ),
        ("allocations",
            "INSERT INTO seasonal_allocation (year, quarter, provider_center_id, host_center_id, \
                 proposed_by_center_id, performance_quota, performances_scheduled, status, note, created_at, responded_at) \
             SELECT y, q, a, b, a, 100, 0, 'ACCEPTED', NULL, \
                    make_timestamptz(y, 3 * q - 2, 1, 0, 0, 0, 'Asia/Shanghai') - interval '30 days', \
                    make_timestamptz(y, 3 * q - 2, 1, 0, 0, 0, 'Asia/Shanghai') - interval '20 days' \
             FROM gen_param p, \
                  generate_series(extract(year FROM p.t0)::int, extract(year FROM p.now + interval '548 days')::int) y, \
                  generate_series(1, 4) q, generate_series(1, 3) a, generate_series(1, 3) b \
             WHERE a <> b".to_owned()
        ),
        // Performances: the k-th session of a venue starts k spacings after t0 (a spacing is
        // five years over the sessions per venue: weeks), in the evening, 90 to 180 minutes
        // long. One in 8 is an exchange session (origin ≠ host), one in 33 is cancelled,
        // one in 50 of those to come is a draft; one in 20 published has a seat share of a
        // fifth of the hall. Occupancy 5–40 %, parties of 1 to 4, except the sold-out ones
        // (see the module doc). `regular`: its first bookings are the regulars'. The running
        // sums give each performance its ranges of inventory, booking and ticket ids.
        ("performance plan", format!(
            "CREATE TEMP TABLE gen_perf ON COMMIT DROP AS \
             WITH base AS ( \
               SELECT i AS id, v.id AS venue_id, v.center_id AS host, v.seating, v.capacity, v.seat_base, \
                      p.t0 + ((i - 1) / p.venues)::float8 * (interval '1826 days' / p.per_venue::float8) \
                           + ((v.id * 53) % 7) * interval '1 hour' AS starts_at \
               FROM gen_param p CROSS JOIN generate_series(1, p.perfs) i JOIN gen_venue v ON v.id = (i - 1) % p.venues + 1 \
             ), timed AS ( \
               SELECT b.*, b.starts_at + (90 + (b.id % 4) * 30) * interval '1 minute' AS ends_at, \
                      CASE WHEN b.starts_at > p.now AND b.id % 50 = 0 THEN 'DRAFT' \
                           WHEN b.id % 33 = 0 THEN 'CANCELLED' ELSE 'PUBLISHED' END AS status, \
                      CASE WHEN b.id % 8 <> 0 THEN b.host \
                           WHEN b.host <= 3 THEN (b.host + (b.id / 8) % 2) % 3 + 1 \
                           ELSE 1 + (b.id / 8) % 3 END AS origin, \
                      LEAST(b.starts_at - interval '60 days', p.now - interval '1 hour') AS published_at \
               FROM base b, gen_param p \
             ), shaped AS ( \
               SELECT t.*, t.ends_at <= p.now AS past, \
                      CASE WHEN t.status = 'CANCELLED' THEN LEAST(t.starts_at - interval '1 day', p.now) END AS cancelled_at, \
                      CASE WHEN t.id % 20 = 3 AND t.status = 'PUBLISHED' THEN t.capacity / 5 ELSE 0 END AS share_seats, \
                      CASE WHEN t.origin <> t.host THEN t.origin ELSE 1 + t.id % 3 END AS share_center, \
                      1 + t.id % 4 AS q \
               FROM timed t, gen_param p \
             ), sold AS ( \
               SELECT s.*, \
                      CASE WHEN s.status = 'DRAFT' THEN 0 \
                           WHEN s.sold_out THEN s.capacity \
                           ELSE floor((s.capacity - s.share_seats) * (5 + (s.id * 7919) % 36) / 100.0)::int END AS sold, \
                      LEAST(COALESCE(s.cancelled_at, s.starts_at), p.now) AS sales_end \
               FROM (SELECT t.*, t.status = 'PUBLISHED' AND t.share_seats = 0 \
                            AND (t.venue_id = {ARENA_VENUE} OR t.id % 47 = 5) AS sold_out FROM shaped t) s, gen_param p \
             ), counted AS ( \
               SELECT s.*, (s.sold + s.q - 1) / s.q AS bookings FROM sold s \
             ), ranked AS ( \
               SELECT c.*, c.bookings > {REGULARS} AND ROW_NUMBER() OVER ( \
                        PARTITION BY c.bookings > {REGULARS} ORDER BY (c.id * 7919) % p.perfs, c.id) <= {REGULAR_BOOKINGS} AS regular \
               FROM counted c, gen_param p \
             ) \
             SELECT s.*, \
                    {STAFF_PER_CENTER} * s.host - 1 AS scheduler, {STAFF_PER_CENTER} * s.host AS usher, \
                    COALESCE(SUM(CASE WHEN s.status = 'DRAFT' THEN 0 ELSE s.capacity END) OVER w, 0) AS inv_base, \
                    COALESCE(SUM((s.sold + s.q - 1) / s.q) OVER w, 0) AS booking_base, \
                    COALESCE(SUM(s.sold) OVER w, 0) AS ticket_base \
             FROM ranked s \
             WINDOW w AS (ORDER BY s.id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)"
        )),
        // One production per session, with the session's origin (the composite foreign key
        // ties them), public once the session is published.
        ("productions",
            "INSERT INTO production (id, origin_center_id, title, description, category, created_at, listed_at) \
             SELECT f.id, f.origin, '剧目' || (f.id % 5000) || '号 第' || f.id || '场', '合成演出 ' || f.id, \
                    (ARRAY['OPERA','DRAMA','CONCERT','DANCE','GALA','EXHIBITION','SPORT','LECTURE','OTHER'])[1 + f.id % 9], \
                    f.published_at - interval '1 day', CASE WHEN f.status <> 'DRAFT' THEN f.published_at END \
             FROM gen_perf f".to_owned()
        ),
        ("performances",
            "INSERT INTO performance (id, venue_id, host_center_id, origin_center_id, allocation_id, title, description, \
                 category, starts_at, ends_at, status, price_cents, per_resident_limit, booking_opens_at, booking_closes_at, \
                 capacity, published_at, cancelled_at, cancellation_reason, lock_version, created_at, no_shows_marked_at, \
                 shares_release_at, shares_released_at, production_id) \
             SELECT f.id, f.venue_id, f.host, f.origin, NULL, '剧目' || (f.id % 5000) || '号 第' || f.id || '场', \
                    '合成演出 ' || f.id, \
                    (ARRAY['OPERA','DRAMA','CONCERT','DANCE','GALA','EXHIBITION','SPORT','LECTURE','OTHER'])[1 + f.id % 9], \
                    f.starts_at, f.ends_at, f.status, (f.id % 5) * 2000, 6, \
                    CASE WHEN f.status <> 'DRAFT' THEN f.published_at END, f.starts_at, f.capacity, \
                    CASE WHEN f.status <> 'DRAFT' THEN f.published_at END, f.cancelled_at, \
                    CASE WHEN f.status = 'CANCELLED' THEN '因场馆检修取消' END, 0, f.published_at - interval '1 day', \
                    CASE WHEN f.status = 'PUBLISHED' AND f.past THEN f.ends_at + interval '1 minute' END, \
                    CASE WHEN f.share_seats > 0 THEN f.starts_at - interval '48 hours' END, \
                    CASE WHEN f.share_seats > 0 AND f.starts_at - interval '48 hours' <= p.now \
                         THEN f.starts_at - interval '48 hours' END, f.id \
             FROM gen_perf f, gen_param p".to_owned()
        ),
        ("bookings", format!(
            "INSERT INTO booking (id, performance_id, account_id, status, quantity, seats_together, idempotency_key, \
                 request_fingerprint, created_at, cancelled_at) \
             SELECT x.id, x.performance_id, x.account_id, \
                    CASE WHEN x.cancelled THEN 'CANCELLED' ELSE 'CONFIRMED' END, x.quantity, TRUE, NULL, 'generated', \
                    x.created_at, \
                    CASE WHEN x.cancelled THEN COALESCE(x.perf_cancelled_at, x.created_at + (x.sales_end - x.created_at) / 2) END \
             FROM (SELECT f.booking_base + j + 1 AS id, f.id AS performance_id, \
                          CASE WHEN {regular} THEN {FIRST_RESIDENT} + p.residents + j \
                               ELSE {FIRST_RESIDENT} + {ordinary} END AS account_id, \
                          f.status = 'CANCELLED' OR {cancelled} AS cancelled, \
                          LEAST(f.q, f.sold - j * f.q) AS quantity, \
                          f.published_at + (f.sales_end - f.published_at) * ((j + 1)::float8 / (f.bookings + 2)) AS created_at, \
                          f.sales_end, f.cancelled_at AS perf_cancelled_at \
                   FROM gen_perf f, gen_param p, generate_series(0, f.bookings - 1) j \
                   WHERE f.bookings > 0) x",
            cancelled = booking_cancelled("f", "j"),
            regular = holder_is_regular("f", "j"),
            ordinary = ordinary_holder("f", "j"),
        )),
        ("inventory", format!(
            "INSERT INTO inventory (id, performance_id, seat_id, place_no, booking_id) \
             SELECT f.inv_base + n, f.id, CASE WHEN f.seating = 'RESERVED' THEN f.seat_base + n END, n, \
                    CASE WHEN n <= f.sold AND f.status = 'PUBLISHED' AND NOT {cancelled} \
                         THEN f.booking_base + (n - 1) / f.q + 1 END \
             FROM gen_perf f, generate_series(1, f.capacity) n \
             WHERE f.status <> 'DRAFT'",
            cancelled = booking_cancelled("f", "(n - 1) / f.q")
        )),
        ("tickets", format!(
            "INSERT INTO ticket (id, booking_id, performance_id, inventory_id, seat_id, code, status, checked_in_at, \
                 checked_in_by, pool_center_id, home_center_id) \
             SELECT x.id, x.booking_id, x.performance_id, x.inventory_id, x.seat_id, \
                    substr(x.digits, 1, 4) || '-' || substr(x.digits, 5, 4) || '-' || substr(x.digits, 9, 4) \
                        || '-' || substr(x.digits, 13, 4), \
                    x.status, CASE WHEN x.status = 'CHECKED_IN' THEN x.starts_at - interval '15 minutes' END, \
                    CASE WHEN x.status = 'CHECKED_IN' THEN x.usher END, 0, x.home_center_id \
             FROM (SELECT f.ticket_base + n AS id, f.booking_base + (n - 1) / f.q + 1 AS booking_id, \
                          f.id AS performance_id, f.inv_base + n AS inventory_id, \
                          CASE WHEN f.seating = 'RESERVED' THEN f.seat_base + n END AS seat_id, \
                          lpad((f.ticket_base + n)::text, 16, '0') AS digits, f.starts_at, f.usher, \
                          CASE WHEN {regular} THEN {regular_home} ELSE {ordinary_home} END AS home_center_id, \
                          CASE WHEN f.status = 'CANCELLED' OR {cancelled} THEN 'CANCELLED' \
                               WHEN NOT f.past THEN 'VALID' \
                               WHEN {no_show} THEN 'NO_SHOW' ELSE 'CHECKED_IN' END AS status \
                   FROM gen_perf f, gen_param p, generate_series(1, f.sold) n WHERE f.sold > 0) x",
            cancelled = booking_cancelled("f", "(n - 1) / f.q"),
            no_show = booking_no_show("f.id", "(n - 1) / f.q"),
            regular = holder_is_regular("f", "(n - 1) / f.q"),
            regular_home = regular_home("(n - 1) / f.q"),
            ordinary_home = resident_home(&ordinary_holder("f", "(n - 1) / f.q")),
        )),
        // The open pool counts the live tickets; a share sells none. Slots as
        // `shares::layout`: one per 128 seats, 1 to 16, seats and sales spread evenly.
        ("seat pools",
            "INSERT INTO seat_pool (performance_id, center_id, slot, seats, booked) \
             WITH live AS (SELECT performance_id, SUM(quantity) AS booked FROM booking \
                           WHERE status = 'CONFIRMED' GROUP BY performance_id), \
             pools AS ( \
               SELECT f.id, 0::bigint AS center_id, f.capacity - f.share_seats AS seats, \
                      COALESCE(l.booked, 0)::int AS booked \
               FROM gen_perf f LEFT JOIN live l ON l.performance_id = f.id \
               UNION ALL \
               SELECT f.id, f.share_center, f.share_seats, 0 FROM gen_perf f WHERE f.share_seats > 0 \
             ), slotted AS (SELECT pools.*, GREATEST(1, LEAST(16, pools.seats / 128)) AS k FROM pools) \
             SELECT s.id, s.center_id, i, s.seats / s.k + (i < s.seats % s.k)::int, \
                    s.booked / s.k + (i < s.booked % s.k)::int \
             FROM slotted s, generate_series(0, s.k - 1) i".to_owned()
        ),
        ("resident holds",
            "INSERT INTO resident_hold (performance_id, account_id, tickets) \
             SELECT performance_id, account_id, SUM(quantity) FROM booking WHERE status = 'CONFIRMED' \
             GROUP BY performance_id, account_id".to_owned()
        ),
        ("no-shows", format!(
            "INSERT INTO no_show (booking_id, account_id, performance_id, at, recorded_at) \
             SELECT b.id, b.account_id, b.performance_id, f.ends_at, f.ends_at + interval '1 minute' \
             FROM booking b JOIN gen_perf f ON f.id = b.performance_id \
             WHERE b.status = 'CONFIRMED' AND f.past AND {no_show}",
            no_show = booking_no_show("f.id", "(b.id - f.booking_base - 1)")
        )),
        // The default policy: 3 no-shows within 180 days suspend for 30 days from the last.
        ("suspensions",
            "INSERT INTO booking_suspension (account_id, suspended_until, updated_at) \
             SELECT s.account_id, MAX(s.at) + interval '30 days', p.now \
             FROM (SELECT account_id, at, COUNT(*) OVER (PARTITION BY account_id ORDER BY at \
                       RANGE BETWEEN interval '180 days' PRECEDING AND CURRENT ROW) AS strikes \
                   FROM no_show) s, gen_param p \
             WHERE s.strikes >= 3 \
             GROUP BY s.account_id, p.now HAVING MAX(s.at) + interval '30 days' > p.now".to_owned()
        ),
        // Sold-out sessions to come: 3 to 12 WAITING entries (parties of 1 or 2), joined over
        // the sales period in id order. Holder w is resident (a + w * 999983) mod n: distinct
        // (999983 is prime and divides no generated count), so one live entry per resident.
        // Past sold-out sessions: the last booking came through the list (BOOKED), one
        // offer expired, one resident left. Ids come from the table's sequence.
        ("waiting list", format!(
            "INSERT INTO waitlist_entry (performance_id, account_id, quantity, status, passed_over, offered_at, \
                 offer_expires_at, booking_id, created_at, resolved_at) \
             SELECT f.id, {FIRST_RESIDENT} + (f.id * 104729 + w * 999983) % p.residents, 1 + w % 2, 'WAITING', 0, \
                    NULL, NULL, NULL, \
                    f.published_at + (p.now - f.published_at) * ((w + 1)::float8 / (w + 2) / 2 + 0.5), NULL \
             FROM gen_perf f, gen_param p, generate_series(0, 2 + f.id % 10) w \
             WHERE f.sold_out AND NOT f.past \
             ORDER BY f.id, w"
        )),
        ("waiting list (past)", format!(
            "INSERT INTO waitlist_entry (performance_id, account_id, quantity, status, passed_over, offered_at, \
                 offer_expires_at, booking_id, created_at, resolved_at) \
             SELECT f.id, CASE WHEN e.status = 'BOOKED' THEN b.account_id \
                              ELSE {FIRST_RESIDENT} + (f.id * 104729 + e.w * 999983) % p.residents END, \
                    CASE WHEN e.status = 'BOOKED' THEN b.quantity ELSE 1 + e.w % 2 END, e.status, 0, \
                    CASE WHEN e.status <> 'LEFT' THEN b.created_at - interval '30 minutes' END, \
                    CASE WHEN e.status <> 'LEFT' THEN b.created_at + interval '30 minutes' END, \
                    CASE WHEN e.status = 'BOOKED' THEN b.id END, \
                    f.published_at + (b.created_at - f.published_at) / 2, \
                    CASE WHEN e.status = 'BOOKED' THEN b.created_at ELSE b.created_at + interval '30 minutes' END \
             FROM gen_perf f JOIN booking b ON b.id = f.booking_base + f.bookings, gen_param p, \
                  (VALUES (0, 'BOOKED'), (1, 'EXPIRED'), (2, 'LEFT')) e(w, status) \
             WHERE f.sold_out AND f.past \
             ORDER BY f.id, e.w"
        )),
        ("audit log",
            "INSERT INTO audit_entry (at, actor_id, center_id, action, subject_type, subject_id, details) \
             SELECT e.at, e.actor, e.center, e.action, e.kind, e.subject, e.details FROM ( \
               SELECT p.t0 - interval '30 days' AS at, 3 * v.center_id - 2 AS actor, v.center_id AS center, \
                      'venue.create' AS action, 'Venue' AS kind, v.id AS subject, NULL::text AS details \
               FROM gen_venue v, gen_param p \
               UNION ALL SELECT f.published_at - interval '1 day', f.scheduler, f.host, 'performance.schedule', \
                      'Performance', f.id, NULL FROM gen_perf f \
               UNION ALL SELECT f.published_at, f.scheduler, f.host, 'performance.publish', 'Performance', f.id, NULL \
                      FROM gen_perf f WHERE f.status <> 'DRAFT' \
               UNION ALL SELECT f.cancelled_at, f.scheduler, f.host, 'performance.cancel', 'Performance', f.id, \
                      '{\"reason\":\"因场馆检修取消\"}' FROM gen_perf f WHERE f.status = 'CANCELLED' \
               UNION ALL SELECT t.checked_in_at, t.checked_in_by, f.host, 'ticket.check_in', 'Ticket', t.id, NULL \
                      FROM ticket t JOIN gen_perf f ON f.id = t.performance_id WHERE t.status = 'CHECKED_IN' \
             ) e ORDER BY e.at".to_owned()
        ),
        ("sequences",
            "SELECT setval('center_id_seq', (SELECT MAX(id) FROM center)), \
                    setval('account_id_seq', (SELECT MAX(id) FROM account)), \
                    setval('venue_id_seq', (SELECT MAX(id) FROM venue)), \
                    setval('seat_id_seq', GREATEST(1, (SELECT MAX(id) FROM seat))), \
                    setval('performance_id_seq', (SELECT MAX(id) FROM performance)), \
                    setval('production_id_seq', (SELECT MAX(id) FROM production)), \
                    setval('booking_id_seq', GREATEST(1, (SELECT MAX(id) FROM booking))), \
                    setval('inventory_id_seq', GREATEST(1, (SELECT MAX(id) FROM inventory))), \
                    setval('ticket_id_seq', GREATEST(1, (SELECT MAX(id) FROM ticket)))".to_owned()
        ),
    ]
}

/// The home center of ordinary resident `g` (0-based): 30 % Pinghu, 30 % Jinshan, 20 %
/// Jiashan, 20 % the synthetic centers.
fn resident_home(g: &str) -> String {
    format!(
        "(CASE WHEN ({g}) % 10 < 3 THEN 1 WHEN ({g}) % 10 < 6 THEN 2 WHEN ({g}) % 10 < 8 THEN 3 \
              ELSE 4 + (({g}) / 10) % {synthetic} END)",
        synthetic = CENTERS - 3
    )
}

/// The home center of regular `k`: the three centers in turn.
fn regular_home(k: &str) -> String {
    format!("(1 + ({k}) % 3)")
}

/// Whether booking `j` of the performance aliased `f` is held by regular `j`.
fn holder_is_regular(f: &str, j: &str) -> String {
    format!("({f}.regular AND ({j}) < {REGULARS})")
}

/// The ordinary resident (0-based) who holds booking `j` of the performance aliased `f`
/// (needs `gen_param p`).
fn ordinary_holder(f: &str, j: &str) -> String {
    format!("(({f}.id * 7919 + ({j}) * 1000003) % p.residents)")
}

/// Whether booking `j` (0-based) of the performance aliased `f` was cancelled by its holder
/// (about one in 29; never in a sold-out session, whose freed seats would have gone to its
/// waiting list).
fn booking_cancelled(f: &str, j: &str) -> String {
    format!("(NOT {f}.sold_out AND ({f}.id + ({j}) * 31) % 29 = 0)")
}

/// Whether booking `j` of an ended performance `perf` was a no-show (about one in 11).
fn booking_no_show(perf: &str, j: &str) -> String {
    format!("(({perf} * 3 + ({j}) * 7) % 11 = 0)")
}

/// The tables whose rows the report counts.
const COUNTED: [&str; 15] = [
    "center",
    "account",
    "venue",
    "seat",
    "seasonal_allocation",
    "performance",
    "seat_pool",
    "inventory",
    "booking",
    "ticket",
    "resident_hold",
    "no_show",
    "booking_suspension",
    "audit_entry",
    "waitlist_entry",
];

/// Migrates `db` and fills it (PostgreSQL only; the database must hold no center yet),
/// then `VACUUM (ANALYZE)`s it. `progress` hears of each step as it ends.
pub async fn run(
    db: &Database,
    plan: &Plan,
    password_hash: &str,
    now: DateTime<Utc>,
    mut progress: impl FnMut(&str, Duration),
) -> Result<Report, String> {
    if db.backend() != DbBackend::Postgres {
        return Err(NEEDS_POSTGRES.to_owned());
    }
    let started = Instant::now();
    let sql_err = |step: &str, e: sea_orm::DbErr| format!("generating ({step}): {e}");
    crate::db::migrate(db)
        .await
        .map_err(|e| format!("migrations failed: {e}"))?;
    let existing = scalar(&db.conn, "SELECT COUNT(*) FROM center").await?;
    if existing > 0 {
        return Err(format!(
            "the database already has {existing} centers: generate into an empty database"
        ));
    }
    // References are right by construction (and [`check`] verifies them): a superuser
    // skips the per-row foreign-key triggers, which are most of the insert time.
    let superuser = scalar(
        &db.conn,
        "SELECT CASE WHEN rolsuper THEN 1::int8 ELSE 0::int8 END FROM pg_roles WHERE rolname = current_user",
    )
    .await?
        == 1;
    let txn = db.conn.begin().await.map_err(|e| sql_err("begin", e))?;
    let mut settings = vec![
        "SET LOCAL synchronous_commit = off",
        "SET LOCAL work_mem = '256MB'",
    ];
    if superuser {
        settings.push("SET LOCAL session_replication_role = replica");
    }
    for setting in settings {
        txn.execute_unprepared(setting)
            .await
            .map_err(|e| sql_err("settings", e))?;
    }
    let mut steps = Vec::new();
    for (step, sql) in statements(plan, password_hash, now) {
        let at = Instant::now();
        txn.execute_unprepared(&sql)
            .await
            .map_err(|e| sql_err(step, e))?;
        progress(step, at.elapsed());
        steps.push((step, at.elapsed()));
    }
    txn.commit().await.map_err(|e| sql_err("commit", e))?;
    let at = Instant::now();
    db.conn
        .execute_unprepared("VACUUM (ANALYZE)")
        .await
        .map_err(|e| sql_err("vacuum", e))?;
    progress("vacuum, analyze", at.elapsed());
    steps.push(("vacuum, analyze", at.elapsed()));
    let elapsed = started.elapsed();
    let mut rows = Vec::new();
    for table in COUNTED {
        rows.push((
            table.to_owned(),
            scalar(&db.conn, &format!("SELECT COUNT(*) FROM {table}")).await?,
        ));
    }
    let database_bytes = scalar(&db.conn, "SELECT pg_database_size(current_database())").await?;
    Ok(Report {
        steps,
        elapsed,
        database_bytes,
        rows,
    })
}

/// The invariants a generated database must keep, each as a statement counting the rows
/// that break it: (what, SQL).
pub const INVARIANTS: [(&str, &str); 15] = [
    (
        "every reference resolves",
        "SELECT (SELECT COUNT(*) FROM ticket t LEFT JOIN booking b ON b.id = t.booking_id WHERE b.id IS NULL) \
              + (SELECT COUNT(*) FROM ticket t LEFT JOIN inventory i ON i.id = t.inventory_id WHERE i.id IS NULL) \
              + (SELECT COUNT(*) FROM inventory i LEFT JOIN booking b ON b.id = i.booking_id \
                 WHERE i.booking_id IS NOT NULL AND b.id IS NULL) \
              + (SELECT COUNT(*) FROM inventory i LEFT JOIN seat s ON s.id = i.seat_id \
                 WHERE i.seat_id IS NOT NULL AND s.id IS NULL) \
              + (SELECT COUNT(*) FROM booking b LEFT JOIN account a ON a.id = b.account_id WHERE a.id IS NULL) \
              + (SELECT COUNT(*) FROM booking b LEFT JOIN performance p ON p.id = b.performance_id WHERE p.id IS NULL) \
              + (SELECT COUNT(*) FROM seat s LEFT JOIN venue v ON v.id = s.venue_id WHERE v.id IS NULL) \
              + (SELECT COUNT(*) FROM performance p LEFT JOIN venue v ON v.id = p.venue_id WHERE v.id IS NULL) \
              + (SELECT COUNT(*) FROM audit_entry e LEFT JOIN account a ON a.id = e.actor_id \
                 WHERE e.actor_id IS NOT NULL AND a.id IS NULL)",
    ),
    (
        "a ticket and its seat are on the same performance and venue",
        "SELECT COUNT(*) FROM ticket t JOIN inventory i ON i.id = t.inventory_id \
         JOIN performance p ON p.id = t.performance_id \
         LEFT JOIN seat s ON s.id = i.seat_id \
         WHERE i.performance_id <> t.performance_id OR i.seat_id IS DISTINCT FROM t.seat_id \
            OR (s.id IS NOT NULL AND s.venue_id <> p.venue_id)",
    ),
    (
        "a published or cancelled performance has one inventory row per seat or place",
        "SELECT COUNT(*) FROM performance p \
         LEFT JOIN (SELECT performance_id, COUNT(*) AS n FROM inventory GROUP BY performance_id) i \
           ON i.performance_id = p.id \
         WHERE (p.status = 'DRAFT') <> (i.n IS NULL) OR (p.status <> 'DRAFT' AND i.n <> p.capacity)",
    ),
    (
        "a live ticket's inventory row names its booking, and only live tickets' rows are taken",
        "SELECT (SELECT COUNT(*) FROM ticket t JOIN inventory i ON i.id = t.inventory_id \
                 WHERE t.status <> 'CANCELLED' AND i.booking_id IS DISTINCT FROM t.booking_id) \
              + (SELECT COUNT(*) FROM inventory i WHERE i.booking_id IS NOT NULL AND NOT EXISTS \
                 (SELECT 1 FROM ticket t WHERE t.inventory_id = i.id AND t.status <> 'CANCELLED'))",
    ),
    (
        "bookings are whole: as many tickets as the quantity, cancelled with their booking",
        "SELECT COUNT(*) FROM booking b \
         JOIN (SELECT booking_id, COUNT(*) AS n, SUM(CASE WHEN status = 'CANCELLED' THEN 1 ELSE 0 END) AS c \
               FROM ticket GROUP BY booking_id) t ON t.booking_id = b.id \
         WHERE t.n <> b.quantity OR (b.status = 'CANCELLED') <> (t.c = t.n) OR (t.c > 0 AND t.c < t.n)",
    ),
    (
        "seat pools count the live tickets",
        "SELECT COUNT(*) FROM (SELECT performance_id, SUM(booked) AS booked FROM seat_pool \
                               GROUP BY performance_id) s \
         LEFT JOIN (SELECT performance_id, COUNT(*) AS n FROM ticket WHERE status <> 'CANCELLED' \
                    GROUP BY performance_id) t ON t.performance_id = s.performance_id \
         WHERE s.booked <> COALESCE(t.n, 0)",
    ),
    (
        "every performance has an open pool, and its pools add up to its capacity",
        "SELECT COUNT(*) FROM performance p \
         LEFT JOIN (SELECT performance_id, SUM(seats) AS seats, \
                           SUM(CASE WHEN center_id = 0 THEN 1 ELSE 0 END) AS open_slots \
                    FROM seat_pool GROUP BY performance_id) s ON s.performance_id = p.id \
         WHERE s.seats IS DISTINCT FROM p.capacity OR s.open_slots = 0",
    ),
    (
        "resident holds are the live tickets per resident, within the limit",
        "SELECT COUNT(*) FROM resident_hold h \
         FULL JOIN (SELECT b.performance_id, b.account_id, COUNT(*) AS n FROM ticket t \
                    JOIN booking b ON b.id = t.booking_id WHERE t.status <> 'CANCELLED' \
                    GROUP BY b.performance_id, b.account_id) l \
           ON l.performance_id = h.performance_id AND l.account_id = h.account_id \
         JOIN performance p ON p.id = COALESCE(h.performance_id, l.performance_id) \
         WHERE COALESCE(h.tickets, 0) <> COALESCE(l.n, 0) OR COALESCE(l.n, 0) > p.per_resident_limit",
    ),
    (
        "no two live sessions overlap at a venue",
        "SELECT COUNT(*) FROM (SELECT starts_at, LAG(ends_at) OVER (PARTITION BY venue_id ORDER BY starts_at) AS prev_end \
                               FROM performance WHERE status <> 'CANCELLED') s \
         WHERE s.prev_end > s.starts_at",
    ),
    (
        "ended published sessions are settled: no VALID ticket, each no-show booking recorded",
        "SELECT (SELECT COUNT(*) FROM ticket t JOIN performance p ON p.id = t.performance_id \
                 WHERE p.status = 'PUBLISHED' AND p.no_shows_marked_at IS NOT NULL AND t.status = 'VALID') \
              + (SELECT COUNT(*) FROM performance p WHERE p.status = 'PUBLISHED' \
                 AND p.no_shows_marked_at IS NULL AND p.ends_at <= (SELECT MAX(at) FROM audit_entry)) \
              + (SELECT COUNT(*) FROM booking b WHERE b.status = 'CONFIRMED' \
                 AND EXISTS (SELECT 1 FROM ticket t WHERE t.booking_id = b.id AND t.status = 'NO_SHOW') \
                 AND NOT EXISTS (SELECT 1 FROM ticket t WHERE t.booking_id = b.id AND t.status = 'CHECKED_IN') \
                 AND NOT EXISTS (SELECT 1 FROM no_show n WHERE n.booking_id = b.id))",
    ),
    (
        "a ticket names its holder's home center (nobody has moved since)",
        "SELECT COUNT(*) FROM ticket t JOIN booking b ON b.id = t.booking_id \
         JOIN account a ON a.id = b.account_id WHERE t.home_center_id IS DISTINCT FROM a.home_center_id",
    ),
    (
        "check-ins are by the host center's staff",
        "SELECT COUNT(*) FROM ticket t JOIN performance p ON p.id = t.performance_id \
         JOIN account a ON a.id = t.checked_in_by WHERE a.center_id <> p.host_center_id",
    ),
    (
        "staff actions are in the audit log",
        "SELECT (SELECT COUNT(*) FROM performance p WHERE NOT EXISTS (SELECT 1 FROM audit_entry e \
                 WHERE e.subject_type = 'Performance' AND e.subject_id = p.id AND e.action = 'performance.schedule')) \
              + (SELECT COUNT(*) FROM ticket t WHERE t.status = 'CHECKED_IN' AND NOT EXISTS (SELECT 1 \
                 FROM audit_entry e WHERE e.subject_type = 'Ticket' AND e.subject_id = t.id))",
    ),
    (
        "a performance with a live waiting entry has nothing free, and one live entry per resident",
        "SELECT (SELECT COUNT(*) FROM (SELECT DISTINCT performance_id FROM waitlist_entry \
                 WHERE status IN ('WAITING', 'OFFERED')) w \
                 WHERE EXISTS (SELECT 1 FROM inventory i WHERE i.performance_id = w.performance_id \
                   AND i.booking_id IS NULL AND i.held_by IS NULL)) \
              + (SELECT COUNT(*) FROM (SELECT 1 FROM waitlist_entry WHERE status IN ('WAITING', 'OFFERED') \
                 GROUP BY performance_id, account_id HAVING COUNT(*) > 1) d) \
              + (SELECT COUNT(*) FROM waitlist_entry w JOIN resident_hold h \
                 ON h.performance_id = w.performance_id AND h.account_id = w.account_id \
                 JOIN performance p ON p.id = w.performance_id \
                 WHERE w.status = 'WAITING' AND h.tickets + w.quantity > p.per_resident_limit)",
    ),
    (
        "a BOOKED entry names its holder's booking of that performance",
        "SELECT COUNT(*) FROM waitlist_entry w LEFT JOIN booking b ON b.id = w.booking_id \
         WHERE (w.status = 'BOOKED') <> (w.booking_id IS NOT NULL) \
            OR (b.id IS NOT NULL AND (b.account_id <> w.account_id OR b.performance_id <> w.performance_id))",
    ),
];

/// Checks the [`INVARIANTS`] on a generated database: the ones broken, with how many rows
/// break each. Reads every table whole: minutes at full size.
pub async fn check(db: &Database) -> Result<Vec<(&'static str, i64)>, String> {
    let mut broken = Vec::new();
    for (what, sql) in INVARIANTS {
        let n = scalar(&db.conn, sql).await?;
        if n != 0 {
            broken.push((what, n));
        }
    }
    Ok(broken)
}

async fn scalar(conn: &impl ConnectionTrait, sql: &str) -> Result<i64, String> {
    let row = conn
        .query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .map_err(|e| format!("{sql}: {e}"))?
        .ok_or_else(|| format!("{sql}: no row"))?;
    row.try_get_by_index::<i64>(0)
        .map_err(|e| format!("{sql}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_one_is_the_full_size_and_tiny_scales_have_a_floor() {
        let full = Plan::at_scale(1.0).expect("valid");
        assert_eq!(
            (full.residents, full.venues, full.performances),
            (5_000_000, 4_000, 200_000)
        );
        let ci = Plan::at_scale(0.01).expect("valid");
        assert_eq!(
            (ci.residents, ci.venues, ci.performances),
            (50_000, 40, 2_000)
        );
        let tiny = Plan::at_scale(0.000_001).expect("valid");
        assert_eq!(
            (tiny.residents, tiny.venues, tiny.performances),
            (10_000, 10, 200)
        );
        assert!(Plan::at_scale(0.0).is_err());
        assert!(Plan::at_scale(f64::NAN).is_err());
        assert!(Plan::at_scale(11.0).is_err());
    }

    #[test]
    fn residents_of_one_performance_are_distinct() {
        // Booking j of a performance goes to resident (a + j * 1000003) mod n: distinct for
        // distinct j while 1000003 (a prime) does not divide n.
        for n in [10_000_i64, 50_000, 500_000, 5_000_000] {
            assert_ne!(n % 1_000_003, 0);
        }
    }
}
