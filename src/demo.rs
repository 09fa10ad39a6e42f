//! The demo data of DOMAIN.md: the three centers of the Zhejiang–Shanghai border, their
//! venues with real seat layouts, the Jinshan → Pinghu exchange allocations, the historical
//! 2018–2019 sessions, and upcoming bookable sessions dated relative to today.
//!
//! Loading is idempotent: every object is looked up by a natural key (center code, venue
//! name, performance title and start) before it is created.

use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};

use crate::domain::now;
use crate::error::AppResult;

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
        let existing = entity::center::Entity::find()
            .filter(entity::center::Column::Code.eq(code))
            .one(conn)
            .await?;
        let id = match existing {
            Some(center) => center.id,
            None => {
                entity::center::ActiveModel {
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

/// Loads the demo data idempotently; returns a summary.
pub async fn seed(conn: &DatabaseConnection, password: &str) -> AppResult<String> {
    let centers = seed_centers(conn).await?;
    Ok(format!("demo data loaded: {} centers", centers.len()))
}
