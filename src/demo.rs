//! The demo data of DOMAIN.md: the three centers of the Zhejiang–Shanghai border, their
//! venues with real seat layouts, the shared border-river site, the Jinshan → Pinghu
//! exchange allocations ("about 2 sessions every quarter"), the historical 2018–2019
//! sessions (past performances; the 2018 exchange with its bookings and tickets, see
//! [`history`]), and upcoming bookable sessions dated relative to today.
//!
//! Loading is idempotent: every object is looked up by its natural key (center code, venue
//! name, allocation season and parties, performance venue + title + start) before it is
//! created, so running it again never duplicates anything; on a later day it adds that
//! day's upcoming sessions.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use entity::enums::{AllocationStatus, PerformanceCategory, PerformanceStatus, Role, VenueKind};
use entity::{account, center, performance, seasonal_allocation, venue};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};

use crate::auth::{Caller, Identity, Staff, password};
use crate::domain::accounts::{self, Email};
use crate::domain::audit::Via;
use crate::domain::season::{Season, shanghai};
use crate::domain::venues::{self, Layout, NewVenue, RowSpec, SectionSpec};
use crate::domain::{allocations, now, scheduling};
use crate::error::{AppError, AppResult};

mod history;

/// Password of the demo admins when `serve --demo` runs without ZOUQIN_DEMO_PASSWORD.
pub const DEFAULT_PASSWORD: &str = "zouqin-demo-2019";

/// The three centers: (code, name, region).
pub const CENTERS: [(&str, &str, &str); 3] = [
    ("pinghu", "平湖市文化馆", "浙江省嘉兴市平湖市"),
    ("jinshan", "金山区文化馆", "上海市金山区"),
    ("jiashan", "嘉善县文化馆", "浙江省嘉兴市嘉善县"),
];

/// Creates the three centers if missing; returns their ids in [`CENTERS`] order.
pub async fn seed_centers(conn: &DatabaseConnection) -> AppResult<Vec<i64>> {
    let mut ids = Vec::new();
    for (code, name, region) in CENTERS {
        let existing = center::Entity::find()
            .filter(center::Column::Code.eq(code))
            .one(conn)
            .await?;
        let id = match existing {
            Some(center) => center.id,
            None => {
                center::ActiveModel {
                    code: Set(code.to_owned()),
                    name: Set(name.to_owned()),
                    region: Set(region.to_owned()),
                    created_at: Set(now()),
                    ..Default::default()
                }
                .insert(conn)
                .await?
                .id
            }
        };
        ids.push(id);
    }
    Ok(ids)
}

struct Counts {
    venues: usize,
    allocations: usize,
    performances: usize,
}

/// Loads the demo data idempotently; returns a summary.
pub async fn seed(conn: &DatabaseConnection, admin_password: &str) -> AppResult<String> {
    password::validate(admin_password, "ZOUQIN_DEMO_PASSWORD")?;
    let ids = seed_centers(conn).await?;
    let (jinshan, jiashan) = (ids[1], ids[2]);
    let mut admins = Vec::new();
    let mut hash: Option<String> = None;
    for ((code, _, _), center_id) in CENTERS.iter().zip(&ids) {
        admins.push(ensure_admin(conn, code, *center_id, admin_password, &mut hash).await?);
    }
    let mut counts = Counts {
        venues: 0,
        allocations: 0,
        performances: 0,
    };

    let [pinghu_admin, jinshan_admin, jiashan_admin] = [admins[0], admins[1], admins[2]];

    let theatre = ensure_venue(conn, pinghu_admin, &mut counts, || NewVenue {
        name: "平湖市文化馆剧场".to_owned(),
        address: "浙江省平湖市当湖街道 平湖市文化馆".to_owned(),
        kind: VenueKind::Theater,
        layout: Layout::Reserved(vec![
            section("池座", 12, 24, Some((12, vec![1, 2, 23, 24]))),
            section("楼座", 6, 20, None),
        ]),
        shared_with: vec![],
    })
    .await?;
    let gallery = ensure_venue(conn, pinghu_admin, &mut counts, || NewVenue {
        name: "平湖市文化馆展厅".to_owned(),
        address: "浙江省平湖市当湖街道 平湖市文化馆二楼".to_owned(),
        kind: VenueKind::Gallery,
        layout: Layout::GeneralAdmission(200),
        shared_with: vec![],
    })
    .await?;
    let river = ensure_venue(conn, pinghu_admin, &mut counts, || NewVenue {
        name: "山塘村界河龙舟赛场".to_owned(),
        address: "平湖市广陈镇山塘村与金山区廊下镇山塘村交界河段".to_owned(),
        kind: VenueKind::Outdoor,
        layout: Layout::GeneralAdmission(3000),
        shared_with: vec![jinshan, jiashan],
    })
    .await?;
    let jinshan_theatre = ensure_venue(conn, jinshan_admin, &mut counts, || NewVenue {
        name: "金山区文化馆剧场".to_owned(),
        address: "上海市金山区 金山区文化馆".to_owned(),
        kind: VenueKind::Theater,
        layout: Layout::Reserved(vec![
            section("池座", 15, 26, Some((1, vec![1, 26]))),
            section("楼座", 5, 22, None),
        ]),
        shared_with: vec![],
    })
    .await?;
    let jiashan_hall = ensure_venue(conn, jiashan_admin, &mut counts, || NewVenue {
        name: "嘉善县文化馆多功能厅".to_owned(),
        address: "浙江省嘉兴市嘉善县 嘉善县文化馆".to_owned(),
        kind: VenueKind::Hall,
        layout: Layout::Reserved(vec![section("Stalls", 10, 20, Some((10, vec![1, 20])))]),
        shared_with: vec![],
    })
    .await?;

    // The 2019 "Connecting with Shanghai" series: Jinshan sends Pinghu 2 sessions a quarter.
    for quarter in 1..=4 {
        let season = Season::new(2019, quarter)?;
        let allocation =
            ensure_allocation(conn, jinshan_admin, pinghu_admin, season, &mut counts).await?;
        for (n, (title, category)) in [
            (
                "接轨上海 精品文艺系列展演：金山农民画专场",
                PerformanceCategory::Exhibition,
            ),
            (
                "接轨上海 精品文艺系列展演：沪剧折子戏专场",
                PerformanceCategory::Opera,
            ),
        ]
        .into_iter()
        .enumerate()
        {
            let date = season.starts_on() + Duration::days(20 + 30 * n as i64);
            let (venue_id, hours) = if category == PerformanceCategory::Exhibition {
                (gallery.id, 6)
            } else {
                (theatre.id, 2)
            };
            ensure_performance(
                conn,
                pinghu_admin,
                &mut counts,
                Session {
                    venue_id,
                    title,
                    description: "金山区文化馆推荐的上海优秀作品，在平湖“接轨上海”系列中展演。",
                    category,
                    starts_at: local(date, 19, 0),
                    hours,
                    origin: Some(jinshan),
                    allocation: Some(allocation.id),
                    limit: 4,
                },
            )
            .await?;
        }
    }

    // 《大雷雨》: sold-out nights in Jinshan, then extra performances proposed for Pinghu.
    for day in [8, 9, 10] {
        ensure_performance(
            conn,
            jinshan_admin,
            &mut counts,
            Session {
                venue_id: jinshan_theatre.id,
                title: "沪剧《大雷雨》",
                description: "非物质文化遗产沪剧传统大戏，金山区文化馆出品。",
                category: PerformanceCategory::Opera,
                starts_at: local(ymd(2019, 3, day), 19, 0),
                hours: 3,
                origin: None,
                allocation: None,
                limit: 4,
            },
        )
        .await?;
    }
    ensure_performance(
        conn,
        pinghu_admin,
        &mut counts,
        Session {
            venue_id: theatre.id,
            title: "浙沪共村晚",
            description: "浙江、上海两地村民同台的乡村联欢晚会。",
            category: PerformanceCategory::Gala,
            starts_at: local(ymd(2019, 1, 26), 18, 30),
            hours: 3,
            origin: None,
            allocation: None,
            limit: 4,
        },
    )
    .await?;
    ensure_performance(
        conn,
        pinghu_admin,
        &mut counts,
        Session {
            venue_id: gallery.id,
            title: "共同的记忆——平湖金山两地文化展",
            description: "平湖、金山两地文化馆联合举办的主题展览。",
            category: PerformanceCategory::Exhibition,
            starts_at: local(ymd(2018, 10, 12), 9, 0),
            hours: 8,
            origin: None,
            allocation: None,
            limit: 6,
        },
    )
    .await?;
    ensure_performance(
        conn,
        pinghu_admin,
        &mut counts,
        Session {
            venue_id: river.id,
            title: "端午龙舟斗牛赛",
            description: "金山、平湖、嘉善20支龙舟队在山塘村界河上竞渡。",
            category: PerformanceCategory::Sport,
            starts_at: local(ymd(2019, 6, 7), 9, 0),
            hours: 4,
            origin: None,
            allocation: None,
            limit: 6,
        },
    )
    .await?;

    // The 2018 exchange, with the bookings and tickets the bureaus' figures come from.
    let (history_sessions, history_bookings, history_tickets) = history::load_2018(
        conn,
        history::Setting {
            centers: [
                pinghu_admin.center_id,
                jinshan_admin.center_id,
                jiashan_admin.center_id,
            ],
            admins: [pinghu_admin, jinshan_admin, jiashan_admin],
            pinghu_theatre: theatre.id,
            jinshan_theatre: jinshan_theatre.id,
            river: river.id,
            admin_password,
            hash: &mut hash,
        },
        &mut counts,
    )
    .await?;

    // Upcoming, bookable sessions, dated relative to today.
    let today = Utc::now().with_timezone(&shanghai()).date_naive();
    let next = Season::containing(Utc::now()).next();
    let allocation =
        ensure_allocation(conn, jinshan_admin, pinghu_admin, next, &mut counts).await?;
    for (n, title) in [
        "沪剧《大雷雨》（平湖加演）",
        "接轨上海 精品文艺系列展演：金山民乐专场",
    ]
    .into_iter()
    .enumerate()
    {
        ensure_performance(
            conn,
            pinghu_admin,
            &mut counts,
            Session {
                venue_id: theatre.id,
                title,
                description: "金山区文化馆送到平湖的交流场次，平湖市民不出城即可观看。",
                category: PerformanceCategory::Opera,
                starts_at: local(next.starts_on() + Duration::days(9 + 10 * n as i64), 19, 0),
                hours: 3,
                origin: Some(jinshan),
                allocation: Some(allocation.id),
                limit: 4,
            },
        )
        .await?;
    }
    ensure_performance(
        conn,
        pinghu_admin,
        &mut counts,
        Session {
            venue_id: theatre.id,
            title: "浙沪共村晚",
            description: "浙江、上海两地村民同台的乡村联欢晚会。",
            category: PerformanceCategory::Gala,
            starts_at: local(today + Duration::days(14), 18, 30),
            hours: 3,
            origin: None,
            allocation: None,
            limit: 4,
        },
    )
    .await?;
    ensure_performance(
        conn,
        jiashan_admin,
        &mut counts,
        Session {
            venue_id: river.id,
            title: "龙舟斗牛赛（三地邀请赛）",
            description: "金山、平湖、嘉善三地龙舟队在界河竞渡，两岸观赛。",
            category: PerformanceCategory::Sport,
            starts_at: local(today + Duration::days(21), 9, 0),
            hours: 4,
            origin: None,
            allocation: None,
            limit: 6,
        },
    )
    .await?;
    ensure_performance(
        conn,
        jiashan_admin,
        &mut counts,
        Session {
            venue_id: jiashan_hall.id,
            title: "嘉善田歌专场",
            description: "嘉善县文化馆的非遗田歌演出。",
            category: PerformanceCategory::Concert,
            starts_at: local(today + Duration::days(10), 19, 30),
            hours: 2,
            origin: None,
            allocation: None,
            limit: 4,
        },
    )
    .await?;

    Ok(format!(
        "demo data loaded: 3 centers; created {} venues, {} allocations, {} performances; \
         2018 history: booked {history_sessions} sessions ({history_bookings} bookings, \
         {history_tickets} tickets)",
        counts.venues, counts.allocations, counts.performances
    ))
}

fn ymd(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).expect("BUG: demo dates are valid")
}

fn local(date: NaiveDate, hour: u32, minute: u32) -> DateTime<Utc> {
    let time = NaiveTime::from_hms_opt(hour, minute, 0).expect("BUG: demo times are valid");
    shanghai()
        .from_local_datetime(&date.and_time(time))
        .single()
        .expect("BUG: a fixed offset has no gaps")
        .with_timezone(&Utc)
}

fn section(name: &str, rows: i32, seats: i32, accessible: Option<(i32, Vec<i32>)>) -> SectionSpec {
    SectionSpec {
        name: name.to_owned(),
        rows: (1..=rows)
            .map(|row| RowSpec {
                label: row.to_string(),
                seats,
                accessible: match &accessible {
                    Some((r, seats)) if *r == row => seats.clone(),
                    _ => vec![],
                },
            })
            .collect(),
    }
}

async fn ensure_admin(
    conn: &DatabaseConnection,
    code: &str,
    center_id: i64,
    admin_password: &str,
    hash: &mut Option<String>,
) -> AppResult<Staff> {
    let email = format!("admin@{code}.example");
    let existing = account::Entity::find()
        .filter(account::Column::Email.eq(email.as_str()))
        .one(conn)
        .await?;
    let id = match existing {
        Some(account) => account.id,
        None => {
            let phc = match hash {
                Some(phc) => phc.clone(),
                None => {
                    let phc = password::hash(admin_password.to_owned()).await?;
                    *hash = Some(phc.clone());
                    phc
                }
            };
            accounts::create_by_operator(
                conn,
                Via::Demo,
                &Email::parse("email", &email)?,
                &phc,
                &format!("{code} center admin"),
                Role::CenterAdmin,
                center_id,
            )
            .await?
            .id
        }
    };
    Ok(Staff {
        account_id: id,
        center_id,
        role: Role::CenterAdmin,
    })
}

fn caller_of(staff: Staff) -> Caller {
    Caller::Account(Identity {
        account_id: staff.account_id,
        role: staff.role,
        center_id: Some(staff.center_id),
        epoch: 0,
        session: None,
    })
}

async fn ensure_venue(
    conn: &DatabaseConnection,
    owner: Staff,
    counts: &mut Counts,
    make: impl FnOnce() -> NewVenue,
) -> AppResult<venue::Model> {
    let input = make();
    let existing = venue::Entity::find()
        .filter(venue::Column::CenterId.eq(owner.center_id))
        .filter(venue::Column::Name.eq(input.name.as_str()))
        .one(conn)
        .await?;
    if let Some(existing) = existing {
        return Ok(existing);
    }
    counts.venues += 1;
    venues::create_for(conn, owner, &input).await
}

async fn ensure_allocation(
    conn: &DatabaseConnection,
    provider: Staff,
    host: Staff,
    season: Season,
    counts: &mut Counts,
) -> AppResult<seasonal_allocation::Model> {
    let existing = seasonal_allocation::Entity::find()
        .filter(seasonal_allocation::Column::Year.eq(season.year))
        .filter(seasonal_allocation::Column::Quarter.eq(season.quarter as i32))
        .filter(seasonal_allocation::Column::ProviderCenterId.eq(provider.center_id))
        .filter(seasonal_allocation::Column::HostCenterId.eq(host.center_id))
        .filter(
            seasonal_allocation::Column::Status
                .is_in([AllocationStatus::Proposed, AllocationStatus::Accepted]),
        )
        .one(conn)
        .await?;
    let allocation = match existing {
        Some(existing) => existing,
        None => {
            counts.allocations += 1;
            allocations::propose_as(
                conn,
                provider,
                allocations::Proposal {
                    season,
                    provider_center_id: provider.center_id,
                    host_center_id: host.center_id,
                    performance_quota: 2,
                    note: Some("金山区文化馆每季度向平湖推荐约2场上海作品".to_owned()),
                },
            )
            .await?
        }
    };
    if allocation.status == AllocationStatus::Proposed {
        return allocations::respond_as(conn, host, &caller_of(host), allocation.id, true).await;
    }
    Ok(allocation)
}

struct Session {
    venue_id: i64,
    title: &'static str,
    description: &'static str,
    category: PerformanceCategory,
    starts_at: DateTime<Utc>,
    hours: i64,
    origin: Option<i64>,
    allocation: Option<i64>,
    limit: i32,
}

/// The session (found by venue, title and start, else scheduled and published); `None`
/// when a later run on another day finds its slot or time taken.
async fn ensure_performance(
    conn: &DatabaseConnection,
    host: Staff,
    counts: &mut Counts,
    session: Session,
) -> AppResult<Option<i64>> {
    let existing = performance::Entity::find()
        .filter(performance::Column::VenueId.eq(session.venue_id))
        .filter(performance::Column::Title.eq(session.title))
        .filter(performance::Column::StartsAt.eq(session.starts_at))
        .one(conn)
        .await?;
    if let Some(existing) = existing {
        return Ok(Some(existing.id));
    }
    let past = session.starts_at <= Utc::now();
    // Past sessions get an explicit window that closed at their start; upcoming ones open
    // at publication (now) and close at their start.
    let opens = past.then(|| session.starts_at - Duration::days(30));
    // Sessions of one work share its production: 《大雷雨》's nights in Jinshan and its
    // sessions in Pinghu are one production of Jinshan's.
    let production = crate::domain::productions::ensure_listed(
        conn,
        session.origin.unwrap_or(host.center_id),
        migration::work_title(session.title),
        session.description,
        session.category,
    )
    .await?;
    let scheduled = scheduling::schedule_as(
        conn,
        host,
        &caller_of(host),
        scheduling::NewPerformance {
            venue_id: session.venue_id,
            production_id: Some(production),
            title: Some(session.title.to_owned()),
            description: Some(session.description.to_owned()),
            category: Some(session.category),
            starts_at: session.starts_at,
            ends_at: session.starts_at + Duration::hours(session.hours),
            price_cents: Some(0),
            per_resident_limit: Some(session.limit),
            booking_opens_at: opens,
            booking_closes_at: None,
            origin_center_id: session.origin,
            allocation_id: session.allocation,
            seat_shares: Vec::new(),
            shares_release_at: None,
        },
    )
    .await;
    let scheduled = match scheduled {
        Ok(perf) => perf,
        // A later run on another day may find the slot or the time taken: skip that session.
        Err(AppError::Conflict { .. } | AppError::QuotaExceeded(_)) => return Ok(None),
        Err(other) => return Err(other),
    };
    counts.performances += 1;
    if scheduled.status == PerformanceStatus::Draft {
        scheduling::publish_as(conn, host, scheduled.id).await?;
    }
    Ok(Some(scheduled.id))
}
