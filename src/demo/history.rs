//! The 2018 exchange as DOMAIN.md tells it: 89 joint cultural-visiting sessions between
//! Pinghu and Jinshan with about 78,000 attendances, so that `exchangeReport(year: 2018)`
//! gives the bureaus' headline figures from real bookings and tickets.
//!
//! The sessions, by pair and quarter (local dates of 2018):
//! - Jinshan → Pinghu, 接轨上海 精品文艺系列展演: 2 a quarter at the Pinghu theatre, on
//!   the 2018 allocations (quota 2, ACCEPTED);
//! - Pinghu → Jinshan, return visits: 2 a quarter at the Jinshan theatre;
//! - 浙沪共村晚, joint village galas on the village squares of the two Shantang villages:
//!   4 around the 2018 Spring Festival, 2 at the first Farmers' Harvest Festival
//!   (September), 2 at the year's end;
//! - 共同的记忆 exhibitions from March, when the sharing mechanism started: 32 a side, a week
//!   each, in the Pinghu and Jinshan galleries;
//! - the 2018 dragon-boat race (龙舟斗牛赛) on the border river, hosted from the Jinshan
//!   bank at the venue both sides share, on the Dragon Boat Festival (18 June 2018).
//!
//! Residents of all three home centers book them (3,600 synthetic residents, one shared
//! password hash: the demo admins' password). Most come; some bookings are no-shows, a few
//! are half used, a few were cancelled before booking closed. Sessions are scheduled and
//! published through the domain functions; their bookings and tickets are written with
//! batched multi-row inserts, one transaction per session, and settled by the no-show
//! step's own [`settle`](crate::domain::no_shows::settle). A session that already has
//! bookings is left as it is, so running the loader again adds nothing.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use entity::enums::{PerformanceCategory, Role, VenueKind};
use entity::{account, performance};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, FromQueryResult, QueryFilter,
    QueryOrder, QuerySelect, Statement,
};

use super::{Counts, Session, ensure_allocation, ensure_performance, ensure_venue, local, ymd};
use crate::auth::{Staff, password};
use crate::domain::booking::ticket_code;
use crate::domain::season::Season;
use crate::domain::venues::{Layout, NewVenue};
use crate::error::{AppError, AppResult};

/// Synthetic residents per home center (Pinghu, Jinshan, Jiashan).
const RESIDENTS: [(usize, &str, &str); 3] = [
    (1_500, "pinghu", "平湖居民"),
    (1_500, "jinshan", "金山居民"),
    (600, "jiashan", "嘉善居民"),
];
/// Where the synthetic residents' emails end.
pub(super) const RESIDENT_EMAIL_DOMAIN: &str = "history.zouqin.example";
/// Rows per multi-row INSERT (at most 9 columns: well under both databases' parameter limits).
const CHUNK: usize = 400;

/// What the 2018 history needs from the rest of the demo.
pub(super) struct Setting<'a> {
    pub centers: [i64; 3],
    pub admins: [Staff; 3],
    pub pinghu_theatre: i64,
    pub jinshan_theatre: i64,
    pub river: i64,
    pub admin_password: &'a str,
    pub hash: &'a mut Option<String>,
}

/// What kind of session, for its figures.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Premium,
    Return,
    Gala,
    Exhibition,
    Race,
}

struct Planned {
    session: Session,
    host: usize,
    kind: Kind,
}

/// Loads the 2018 exchange; returns (sessions booked now, bookings, tickets).
pub(super) async fn load_2018(
    conn: &DatabaseConnection,
    setting: Setting<'_>,
    counts: &mut Counts,
) -> AppResult<(usize, usize, usize)> {
    let [pinghu, jinshan, _] = setting.centers;
    let [pinghu_admin, jinshan_admin, _] = setting.admins;
    let pinghu_gallery = ensure_venue(conn, pinghu_admin, counts, || NewVenue {
        name: "平湖市文化馆一楼展厅".to_owned(),
        address: "浙江省平湖市当湖街道 平湖市文化馆一楼".to_owned(),
        kind: VenueKind::Gallery,
        layout: Layout::GeneralAdmission(1_200),
        shared_with: vec![],
    })
    .await?;
    let jinshan_gallery = ensure_venue(conn, jinshan_admin, counts, || NewVenue {
        name: "金山区文化馆展厅".to_owned(),
        address: "上海市金山区 金山区文化馆".to_owned(),
        kind: VenueKind::Gallery,
        layout: Layout::GeneralAdmission(1_200),
        shared_with: vec![],
    })
    .await?;
    let pinghu_square = ensure_venue(conn, pinghu_admin, counts, || NewVenue {
        name: "广陈镇山塘村文化广场".to_owned(),
        address: "浙江省平湖市广陈镇山塘村".to_owned(),
        kind: VenueKind::Outdoor,
        layout: Layout::GeneralAdmission(2_000),
        shared_with: vec![],
    })
    .await?;
    let jinshan_square = ensure_venue(conn, jinshan_admin, counts, || NewVenue {
        name: "廊下镇山塘村文化广场".to_owned(),
        address: "上海市金山区廊下镇山塘村".to_owned(),
        kind: VenueKind::Outdoor,
        layout: Layout::GeneralAdmission(2_000),
        shared_with: vec![],
    })
    .await?;

    let mut allocations = Vec::new();
    for quarter in 1..=4 {
        let season = Season::new(2018, quarter)?;
        allocations.push(
            ensure_allocation(conn, jinshan_admin, pinghu_admin, season, counts)
                .await?
                .id,
        );
    }

    let mut plan: Vec<Planned> = Vec::new();
    // Jinshan → Pinghu: the premium series, 2 a quarter, on the allocations.
    let premium = [
        ((1, 20), "沪剧《大雷雨》"),
        ((3, 17), "金山民乐专场"),
        ((4, 21), "沪剧折子戏专场"),
        ((6, 9), "上海说唱与独脚戏专场"),
        ((7, 21), "金山故事会专场"),
        ((9, 15), "海派京剧折子戏专场"),
        ((10, 20), "评弹与江南丝竹专场"),
        ((12, 15), "金山田山歌专场"),
    ];
    for (n, ((month, day), work)) in premium.into_iter().enumerate() {
        plan.push(Planned {
            session: Session {
                venue_id: setting.pinghu_theatre,
                title: leak(format!("接轨上海 精品文艺系列展演：{work}")),
                description: "金山区文化馆推荐的上海优秀作品，在平湖“接轨上海”系列中展演。",
                category: if work.contains('剧') {
                    PerformanceCategory::Opera
                } else {
                    PerformanceCategory::Concert
                },
                starts_at: local(ymd(2018, month, day), 19, 0),
                hours: 2,
                origin: Some(jinshan),
                allocation: Some(allocations[n / 2]),
                limit: 4,
            },
            host: 0,
            kind: Kind::Premium,
        });
    }
    // Pinghu → Jinshan: return visits at the Jinshan theatre.
    let returns = [
        ((1, 27), "平湖派琵琶艺术专场"),
        ((3, 24), "平湖钹子书专场"),
        ((4, 28), "平湖民乐专场"),
        ((6, 16), "平湖小戏小品专场"),
        ((7, 28), "平湖越剧折子戏专场"),
        ((9, 22), "平湖派琵琶与江南丝竹"),
        ((10, 27), "平湖农民歌手演唱会"),
        ((12, 22), "平湖钹子书新编专场"),
    ];
    for ((month, day), work) in returns {
        plan.push(Planned {
            session: Session {
                venue_id: setting.jinshan_theatre,
                title: leak(format!("文化走亲·平湖走进金山：{work}")),
                description: "平湖市文化馆到金山回访演出，金山市民在家门口看平湖的非遗与民乐。",
                category: PerformanceCategory::Concert,
                starts_at: local(ymd(2018, month, day), 19, 0),
                hours: 2,
                origin: Some(pinghu),
                allocation: None,
                limit: 4,
            },
            host: 1,
            kind: Kind::Return,
        });
    }
    // 浙沪共村晚: the two Shantang villages' squares take turns.
    let galas = [
        ((1, 26), 0),
        ((2, 3), 1),
        ((2, 24), 0),
        ((3, 2), 1),
        ((9, 22), 0),
        ((9, 23), 1),
        ((12, 29), 0),
        ((12, 30), 1),
    ];
    for ((month, day), host) in galas {
        let (venue_id, origin, title) = if host == 0 {
            (pinghu_square.id, jinshan, "浙沪共村晚（广陈山塘村）")
        } else {
            (jinshan_square.id, pinghu, "浙沪共村晚（廊下山塘村）")
        };
        plan.push(Planned {
            session: Session {
                venue_id,
                title,
                description: "浙江、上海两地村民同台的乡村联欢晚会，两个山塘村轮流做东。",
                category: PerformanceCategory::Gala,
                starts_at: local(ymd(2018, month, day), 18, 30),
                hours: 3,
                origin: Some(origin),
                allocation: None,
                limit: 4,
            },
            host,
            kind: Kind::Gala,
        });
    }
    // 共同的记忆: a week each, from March, in both galleries.
    let themes = [
        "金山农民画",
        "平湖西瓜灯",
        "两地老照片",
        "山塘村非遗",
        "沪浙民俗",
        "廊下莲湘",
        "广陈龙舟",
        "平湖派琵琶文献",
    ];
    for k in 0..32_i64 {
        for (host, venue_id, origin, offset) in [
            (0, pinghu_gallery.id, jinshan, 0),
            (1, jinshan_gallery.id, pinghu, 4),
        ] {
            let theme = themes[((k + offset) % themes.len() as i64) as usize];
            let start = ymd(2018, 3, 5) + Duration::days(9 * k + offset);
            plan.push(Planned {
                session: Session {
                    venue_id,
                    title: leak(format!("共同的记忆——{theme}展")),
                    description: "平湖、金山两地文化馆联合举办的“共同的记忆”系列展览，一地一周。",
                    category: PerformanceCategory::Exhibition,
                    starts_at: local(start, 9, 0),
                    hours: 6 * 24 + 8,
                    origin: Some(origin),
                    allocation: None,
                    limit: 4,
                },
                host,
                kind: Kind::Exhibition,
            });
        }
    }
    // The 2018 dragon-boat race on the border river, from the Jinshan bank.
    plan.push(Planned {
        session: Session {
            venue_id: setting.river,
            title: "2018端午龙舟斗牛赛",
            description: "金山、平湖、嘉善20支龙舟队在山塘村界河上竞渡，两岸村民观赛。",
            category: PerformanceCategory::Sport,
            starts_at: local(ymd(2018, 6, 18), 9, 0),
            hours: 4,
            origin: Some(pinghu),
            allocation: None,
            limit: 4,
        },
        host: 1,
        kind: Kind::Race,
    });

    let pools =
        ensure_residents(conn, &setting.centers, setting.admin_password, setting.hash).await?;
    let mut loaded = (0, 0, 0);
    for (index, planned) in plan.into_iter().enumerate() {
        let host_admin = setting.admins[planned.host];
        let kind = planned.kind;
        let host = planned.host;
        let Some(perf_id) = ensure_performance(conn, host_admin, counts, planned.session).await?
        else {
            continue;
        };
        let (bookings, tickets) =
            book_history(conn, perf_id, kind, host, host_admin, &pools, index as u64).await?;
        if bookings > 0 {
            loaded.0 += 1;
            loaded.1 += bookings;
            loaded.2 += tickets;
        }
    }
    Ok(loaded)
}

/// Titles are `&'static str` in [`Session`]; the few built ones live as long as the loader.
fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

/// The synthetic residents, created if missing: their account ids per home center, in
/// [`RESIDENTS`] order.
async fn ensure_residents(
    conn: &DatabaseConnection,
    centers: &[i64; 3],
    admin_password: &str,
    hash: &mut Option<String>,
) -> AppResult<[Vec<i64>; 3]> {
    let email = |code: &str, n: usize| format!("h2018-{code}-{n:04}@{RESIDENT_EMAIL_DOMAIN}");
    let pattern = format!("h2018-%@{RESIDENT_EMAIL_DOMAIN}");
    let existing: HashSet<String> = account::Entity::find()
        .select_only()
        .column(account::Column::Email)
        .filter(account::Column::Email.like(pattern.as_str()))
        .into_tuple::<String>()
        .all(conn)
        .await?
        .into_iter()
        .collect();
    let mut missing: Vec<Vec<sea_orm::Value>> = Vec::new();
    for ((count, code, name), center) in RESIDENTS.iter().zip(centers) {
        for n in 1..=*count {
            let address = email(code, n);
            if existing.contains(&address) {
                continue;
            }
            let phc = match hash {
                Some(phc) => phc.clone(),
                None => {
                    let phc = password::hash(admin_password.to_owned()).await?;
                    *hash = Some(phc.clone());
                    phc
                }
            };
            missing.push(vec![
                address.into(),
                phc.into(),
                format!("{name}{n:04}").into(),
                "RESIDENT".into(),
                (*center).into(),
                true.into(),
                ymd_instant(ymd(2017, 12, 1)).into(),
            ]);
        }
    }
    crate::write_txn!(conn, |txn| {
        insert_rows(
            txn,
            "account",
            &[
                "email",
                "password_hash",
                "display_name",
                "role",
                "home_center_id",
                "active",
                "created_at",
            ],
            &missing,
        )
        .await
    })?;
    let rows: Vec<(i64, String)> = account::Entity::find()
        .select_only()
        .column(account::Column::Id)
        .column(account::Column::Email)
        .filter(account::Column::Email.like(pattern.as_str()))
        .filter(account::Column::Role.eq(Role::Resident))
        .order_by_asc(account::Column::Email)
        .into_tuple()
        .all(conn)
        .await?;
    let mut pools: [Vec<i64>; 3] = Default::default();
    for (id, address) in rows {
        if let Some(i) = RESIDENTS
            .iter()
            .position(|(_, code, _)| address.starts_with(&format!("h2018-{code}-")))
        {
            pools[i].push(id);
        }
    }
    Ok(pools)
}

fn ymd_instant(date: NaiveDate) -> DateTime<Utc> {
    local(date, 10, 0)
}

/// One multi-row `INSERT` per [`CHUNK`] rows.
async fn insert_rows(
    txn: &impl ConnectionTrait,
    table: &str,
    columns: &[&str],
    rows: &[Vec<sea_orm::Value>],
) -> AppResult<()> {
    for chunk in rows.chunks(CHUNK) {
        let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
        let mut values = Vec::with_capacity(chunk.len() * columns.len());
        for (r, row) in chunk.iter().enumerate() {
            if r > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for c in 0..columns.len() {
                if c > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!("${}", r * columns.len() + c + 1));
            }
            sql.push(')');
            values.extend(row.iter().cloned());
        }
        txn.execute_raw(Statement::from_sql_and_values(
            txn.get_database_backend(),
            sql,
            values,
        ))
        .await?;
    }
    Ok(())
}

/// A small deterministic generator (SplitMix64), so every load makes the same history.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [low, high).
    fn between(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.unit()
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// How a kind of session went: share of capacity sold, share of bookings that were
/// no-shows, and who came (share of holders from Pinghu, Jinshan, Jiashan) by host.
fn figures(kind: Kind, host: usize) -> ((f64, f64), f64, [f64; 3]) {
    let home = if host == 0 {
        [0.72, 0.2, 0.08]
    } else {
        [0.2, 0.72, 0.08]
    };
    match kind {
        Kind::Premium => ((0.93, 1.0), 0.06, home),
        Kind::Return => ((0.88, 0.98), 0.07, home),
        Kind::Gala => ((0.9, 0.99), 0.05, home),
        Kind::Exhibition => ((0.72, 0.86), 0.08, home),
        Kind::Race => ((0.96, 1.0), 0.03, [0.38, 0.38, 0.24]),
    }
}

#[derive(FromQueryResult)]
struct Place {
    id: i64,
    seat_id: Option<i64>,
}

/// One booking as it went.
struct Planned2018 {
    account_id: i64,
    quantity: usize,
    created_at: DateTime<Utc>,
    cancelled_at: Option<DateTime<Utc>>,
    /// How many of its tickets were checked in (the rest are no-shows).
    used: usize,
}

/// Writes the bookings and tickets of one past session, unless it has bookings already.
/// Returns (bookings, live tickets) written.
async fn book_history(
    conn: &DatabaseConnection,
    perf_id: i64,
    kind: Kind,
    host: usize,
    host_admin: Staff,
    pools: &[Vec<i64>; 3],
    seed: u64,
) -> AppResult<(usize, usize)> {
    let perf = crate::db::found(
        performance::Entity::find_by_id(perf_id).one(conn).await?,
        "performance",
    )?;
    if perf.starts_at >= Season::new(2019, 1)?.starts_at() {
        return Ok((0, 0));
    }
    let has_bookings = entity::booking::Entity::find()
        .select_only()
        .column(entity::booking::Column::Id)
        .filter(entity::booking::Column::PerformanceId.eq(perf_id))
        .limit(1)
        .into_tuple::<i64>()
        .one(conn)
        .await?
        .is_some();
    if has_bookings {
        return Ok((0, 0));
    }
    let mut dice = Dice(0x2018_0000 + seed * 7919);
    let ((sold_low, sold_high), no_show_share, home_share) = figures(kind, host);
    let capacity = perf.capacity as usize;
    let sold_target = (capacity as f64 * dice.between(sold_low, sold_high)).round() as usize;
    let opens = perf
        .booking_opens_at
        .unwrap_or(perf.starts_at - Duration::days(30));
    let window_secs = (perf.starts_at - opens).num_seconds().max(1);
    let cursors: [usize; 3] = [
        dice.below(pools[0].len().max(1)),
        dice.below(pools[1].len().max(1)),
        dice.below(pools[2].len().max(1)),
    ];
    let mut taken: [usize; 3] = [0, 0, 0];
    let mut pick_holder = |dice: &mut Dice| -> Option<i64> {
        let r = dice.unit();
        let mut center = if r < home_share[0] {
            0
        } else if r < home_share[0] + home_share[1] {
            1
        } else {
            2
        };
        // A resident books a session once; a pool that is used up passes to the next.
        for _ in 0..3 {
            if taken[center] < pools[center].len() {
                break;
            }
            center = (center + 1) % 3;
        }
        if taken[center] >= pools[center].len() {
            return None;
        }
        let id = pools[center][(cursors[center] + taken[center]) % pools[center].len()];
        taken[center] += 1;
        Some(id)
    };
    let mut planned = Vec::new();
    let mut sold = 0;
    while sold < sold_target {
        let quantity = match dice.below(20) {
            0..=5 => 1,
            6..=13 => 2,
            14..=16 => 3,
            _ => 4,
        }
        .min(sold_target - sold);
        let Some(account_id) = pick_holder(&mut dice) else {
            break;
        };
        let created_at = opens + Duration::seconds((dice.unit() * window_secs as f64) as i64);
        let r = dice.unit();
        let used = if r < no_show_share {
            0
        } else if r < no_show_share + 0.03 && quantity >= 2 {
            quantity / 2
        } else {
            quantity
        };
        planned.push(Planned2018 {
            account_id,
            quantity,
            created_at,
            cancelled_at: None,
            used,
        });
        sold += quantity;
    }
    // About 3 bookings in 100 were cancelled before booking closed.
    let cancellations = planned.len() * 3 / 100;
    for _ in 0..cancellations {
        let Some(account_id) = pick_holder(&mut dice) else {
            break;
        };
        let created_at = opens + Duration::seconds((dice.unit() * window_secs as f64 * 0.8) as i64);
        let cancelled_at = created_at + Duration::hours(1 + dice.below(72) as i64);
        planned.push(Planned2018 {
            account_id,
            quantity: 1 + dice.below(2),
            created_at,
            cancelled_at: Some(cancelled_at.min(perf.starts_at - Duration::minutes(1))),
            used: 0,
        });
    }

    let run_secs = (perf.ends_at - perf.starts_at).num_seconds().max(1);
    let written = crate::write_txn!(conn, |txn| {
        let backend = txn.get_database_backend();
        // Published when booking opened (not when the loader ran).
        txn.execute_raw(Statement::from_sql_and_values(
            backend,
            "UPDATE performance SET published_at = booking_opens_at WHERE id = $1",
            [perf_id.into()],
        ))
        .await?;
        let rows: Vec<Vec<sea_orm::Value>> = planned
            .iter()
            .map(|b| {
                vec![
                    perf_id.into(),
                    b.account_id.into(),
                    if b.cancelled_at.is_some() {
                        "CANCELLED"
                    } else {
                        "CONFIRMED"
                    }
                    .into(),
                    (b.quantity as i32).into(),
                    true.into(),
                    "history-2018".into(),
                    b.created_at.into(),
                    b.cancelled_at.into(),
                ]
            })
            .collect();
        insert_rows(
            txn,
            "booking",
            &[
                "performance_id",
                "account_id",
                "status",
                "quantity",
                "seats_together",
                "request_fingerprint",
                "created_at",
                "cancelled_at",
            ],
            &rows,
        )
        .await?;
        let ids: HashMap<i64, i64> = entity::booking::Entity::find()
            .select_only()
            .column(entity::booking::Column::AccountId)
            .column(entity::booking::Column::Id)
            .filter(entity::booking::Column::PerformanceId.eq(perf_id))
            .into_tuple::<(i64, i64)>()
            .all(txn)
            .await?
            .into_iter()
            .collect();
        let places = Place::find_by_statement(Statement::from_sql_and_values(
            backend,
            "SELECT id, seat_id FROM inventory WHERE performance_id = $1 ORDER BY place_no",
            [perf_id.into()],
        ))
        .all(txn)
        .await?;
        // Live tickets take places from the front; cancelled ones from the back (their
        // places were not sold again, or were: a cancelled ticket may share its place).
        let mut front = 0;
        let mut back = places.len();
        let mut tickets = Vec::new();
        let mut live = 0;
        for b in &planned {
            let booking_id = *ids
                .get(&b.account_id)
                .ok_or_else(|| AppError::Internal("a 2018 booking was not written".to_owned()))?;
            for n in 0..b.quantity {
                let place = if b.cancelled_at.is_some() {
                    back = if back > front {
                        back - 1
                    } else {
                        places.len() - 1
                    };
                    &places[back]
                } else {
                    front += 1;
                    &places[front - 1]
                };
                let (status, checked_in_at, by) = if b.cancelled_at.is_some() {
                    ("CANCELLED", None, None)
                } else if n < b.used {
                    let offset = if kind == Kind::Exhibition {
                        (dice.unit() * (run_secs - 3_600) as f64) as i64
                    } else {
                        dice.below(45 * 60) as i64 - 30 * 60
                    };
                    (
                        "CHECKED_IN",
                        Some(perf.starts_at + Duration::seconds(offset)),
                        Some(host_admin.account_id),
                    )
                } else {
                    ("VALID", None, None)
                };
                if b.cancelled_at.is_none() {
                    live += 1;
                }
                tickets.push(vec![
                    booking_id.into(),
                    perf_id.into(),
                    place.id.into(),
                    place.seat_id.into(),
                    ticket_code().into(),
                    status.into(),
                    checked_in_at.into(),
                    by.into(),
                ]);
            }
        }
        insert_rows(
            txn,
            "ticket",
            &[
                "booking_id",
                "performance_id",
                "inventory_id",
                "seat_id",
                "code",
                "status",
                "checked_in_at",
                "checked_in_by",
            ],
            &tickets,
        )
        .await?;
        txn.execute_raw(Statement::from_sql_and_values(
            backend,
            "UPDATE ticket SET home_center_id = (SELECT a.home_center_id FROM booking b \
                 JOIN account a ON a.id = b.account_id WHERE b.id = ticket.booking_id) \
             WHERE performance_id = $1",
            [perf_id.into()],
        ))
        .await?;
        txn.execute_raw(Statement::from_sql_and_values(
            backend,
            "UPDATE inventory SET booking_id = (SELECT t.booking_id FROM ticket t \
                 WHERE t.inventory_id = inventory.id AND t.status <> 'CANCELLED') \
             WHERE performance_id = $1",
            [perf_id.into()],
        ))
        .await?;
        txn.execute_raw(Statement::from_sql_and_values(
            backend,
            "INSERT INTO resident_hold (performance_id, account_id, tickets) \
             SELECT performance_id, account_id, SUM(quantity) FROM booking \
             WHERE performance_id = $1 AND status = 'CONFIRMED' \
             GROUP BY performance_id, account_id",
            [perf_id.into()],
        ))
        .await?;
        // Every seat of a 2018 session was sold from the open pool.
        crate::domain::shares::recount_open_pool(txn, perf_id, perf.capacity, live as i32).await?;
        // The no-show step's own settling, as it ran when the session ended.
        crate::domain::no_shows::settle(txn, perf_id, perf.ends_at, perf.ends_at).await?;
        Ok((planned.len(), live))
    })?;
    Ok(written)
}
