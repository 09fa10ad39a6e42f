//! Venues and their seat maps.

use entity::enums::{Role, SeatingMode, VenueKind};
use entity::{center, seat, venue, venue_share};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, Set,
};
use serde_json::json;

use super::audit::{self, Action};
use super::{now, text};
use crate::auth::{Caller, Staff};
use crate::db::violates;
use crate::error::{AppError, AppResult};
use crate::ids::Kind;

/// Most seats or places one venue may have.
pub const MAX_CAPACITY: i32 = 100_000;
/// Most numbered seats a reserved venue may have: a concert hall or arena, not a stadium (a
/// larger crowd is general admission). It also bounds what one seat map costs a request.
pub const MAX_RESERVED_SEATS: i32 = 20_000;
/// Most seats one row may have.
const MAX_ROW_SEATS: i32 = 500;

/// One row of a section, as staff describe it.
#[derive(Debug, Clone)]
pub struct RowSpec {
    /// The row's label (e.g. "5", "A", "五").
    pub label: String,
    /// How many seats, numbered 1..=seats.
    pub seats: i32,
    /// Seat numbers that are accessible.
    pub accessible: Vec<i32>,
}

/// A section of a reserved venue; rows are listed nearest the stage first.
#[derive(Debug, Clone)]
pub struct SectionSpec {
    /// The section's name as staff gave it (e.g. "Stalls", "池座").
    pub name: String,
    /// Its rows, nearest the stage first.
    pub rows: Vec<RowSpec>,
}

/// How a new venue is seated.
#[derive(Debug, Clone)]
pub enum Layout {
    /// Numbered seats.
    Reserved(Vec<SectionSpec>),
    /// A number of places.
    GeneralAdmission(i32),
}

/// A validated `createVenue` input.
#[derive(Debug, Clone)]
pub struct NewVenue {
    /// Its name (unique within the center).
    pub name: String,
    /// Its street address.
    pub address: String,
    /// What kind of place it is.
    pub kind: VenueKind,
    /// Its seating.
    pub layout: Layout,
    /// Other centers that may host performances there (a venue both sides share).
    pub shared_with: Vec<i64>,
}

impl NewVenue {
    /// Validates the raw input fields; errors name the schema field.
    pub fn parse(
        name: &str,
        address: &str,
        kind: VenueKind,
        seating: SeatingMode,
        capacity: Option<i32>,
        sections: Option<Vec<SectionSpec>>,
        shared_with: Vec<i64>,
    ) -> AppResult<Self> {
        let name = text("name", name, 200)?;
        let address = text("address", address, 500)?;
        let layout = match seating {
            SeatingMode::GeneralAdmission => {
                if sections.as_ref().is_some_and(|s| !s.is_empty()) {
                    return Err(AppError::bad_input(
                        "sections",
                        "a general-admission venue has no sections",
                    ));
                }
                let capacity = capacity.ok_or_else(|| {
                    AppError::bad_input("capacity", "a general-admission venue needs a capacity")
                })?;
                if !(1..=MAX_CAPACITY).contains(&capacity) {
                    return Err(AppError::bad_input(
                        "capacity",
                        format!("capacity must be between 1 and {MAX_CAPACITY}"),
                    ));
                }
                Layout::GeneralAdmission(capacity)
            }
            SeatingMode::Reserved => {
                if capacity.is_some() {
                    return Err(AppError::bad_input(
                        "capacity",
                        "a reserved venue's capacity is its number of seats; give sections instead",
                    ));
                }
                let sections = sections.unwrap_or_default();
                validate_sections(&sections)?;
                Layout::Reserved(sections)
            }
        };
        Ok(Self {
            name,
            address,
            kind,
            layout,
            shared_with,
        })
    }

    /// How many seats or places the venue has.
    pub fn capacity(&self) -> i32 {
        match &self.layout {
            Layout::GeneralAdmission(capacity) => *capacity,
            Layout::Reserved(sections) => sections
                .iter()
                .flat_map(|s| s.rows.iter())
                .map(|r| r.seats)
                .sum(),
        }
    }
}

fn validate_sections(sections: &[SectionSpec]) -> AppResult<()> {
    if sections.is_empty() {
        return Err(AppError::bad_input(
            "sections",
            "a reserved venue needs at least one section",
        ));
    }
    let mut names = std::collections::HashSet::new();
    let mut total: i64 = 0;
    for section in sections {
        let name = text("name", &section.name, 100)?;
        if !names.insert(name) {
            return Err(AppError::bad_input("name", "section names must be unique"));
        }
        if section.rows.is_empty() {
            return Err(AppError::bad_input(
                "rows",
                "a section needs at least one row",
            ));
        }
        let mut labels = std::collections::HashSet::new();
        for row in &section.rows {
            let label = text("label", &row.label, 32)?;
            if !labels.insert(label) {
                return Err(AppError::bad_input(
                    "label",
                    "row labels must be unique within a section",
                ));
            }
            if !(1..=MAX_ROW_SEATS).contains(&row.seats) {
                return Err(AppError::bad_input(
                    "seats",
                    format!("a row has between 1 and {MAX_ROW_SEATS} seats"),
                ));
            }
            if let Some(bad) = row
                .accessible
                .iter()
                .find(|n| !(1..=row.seats).contains(*n))
            {
                return Err(AppError::bad_input(
                    "accessibleSeats",
                    format!("seat {bad} is not in a row of {} seats", row.seats),
                ));
            }
            total += i64::from(row.seats);
        }
    }
    if total > i64::from(MAX_RESERVED_SEATS) {
        return Err(AppError::bad_input(
            "sections",
            format!("a reserved venue has at most {MAX_RESERVED_SEATS} seats"),
        ));
    }
    Ok(())
}

/// A seat's human label, in the language of the section name staff gave.
pub fn seat_label(section: &str, row: &str, number: i32) -> String {
    let cjk = section
        .chars()
        .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
    if cjk {
        format!("{section}{row}排{number}座")
    } else {
        format!("{section} row {row} seat {number}")
    }
}

/// `createVenue`: a SCHEDULER (or CENTER_ADMIN) adds a venue to its own center.
pub async fn create(
    conn: &DatabaseConnection,
    caller: &Caller,
    input: NewVenue,
) -> AppResult<venue::Model> {
    let staff = caller.staff(Role::Scheduler)?;
    for other in &input.shared_with {
        if *other == staff.center_id
            || center::Entity::find_by_id(*other)
                .one(conn)
                .await?
                .is_none()
        {
            return Err(AppError::bad_input(
                "sharedWithCenterIds",
                "list other existing centers only",
            ));
        }
    }
    create_for(conn, staff, &input).await
}

/// Creates a venue for `staff`'s center (also used by the demo loader).
pub async fn create_for(
    conn: &DatabaseConnection,
    staff: Staff,
    input: &NewVenue,
) -> AppResult<venue::Model> {
    let center_id = staff.center_id;
    let seating = match input.layout {
        Layout::Reserved(_) => SeatingMode::Reserved,
        Layout::GeneralAdmission(_) => SeatingMode::GeneralAdmission,
    };
    crate::write_txn!(conn, |txn| {
        let venue = venue::ActiveModel {
            center_id: Set(center_id),
            name: Set(input.name.clone()),
            address: Set(input.address.clone()),
            kind: Set(input.kind),
            seating: Set(seating),
            capacity: Set(input.capacity()),
            lock_version: Set(0),
            created_at: Set(now()),
            ..Default::default()
        }
        .insert(txn)
        .await
        .map_err(|err| {
            if violates(&err, "venue_center_name_key") {
                AppError::Conflict {
                    message: "the center already has a venue with this name".to_owned(),
                    with: None,
                }
            } else {
                err.into()
            }
        })?;
        for other in &input.shared_with {
            venue_share::ActiveModel {
                venue_id: Set(venue.id),
                center_id: Set(*other),
            }
            .insert(txn)
            .await?;
        }
        if let Layout::Reserved(sections) = &input.layout {
            insert_seats(txn, venue.id, sections).await?;
        }
        audit::record(
            txn,
            staff,
            Action::VenueCreate,
            (Kind::Venue, venue.id),
            json!({ "name": venue.name }),
        )
        .await?;
        Ok(venue)
    })
}

async fn insert_seats(
    conn: &impl ConnectionTrait,
    venue_id: i64,
    sections: &[SectionSpec],
) -> AppResult<()> {
    let mut batch = Vec::new();
    for (section_order, section) in sections.iter().enumerate() {
        let section_name = section.name.trim();
        for (row_rank, row) in section.rows.iter().enumerate() {
            let row_label = row.label.trim();
            for number in 1..=row.seats {
                batch.push(seat::ActiveModel {
                    venue_id: Set(venue_id),
                    section: Set(section_name.to_owned()),
                    row_label: Set(row_label.to_owned()),
                    number: Set(number),
                    section_order: Set(section_order as i32),
                    row_rank: Set(row_rank as i32),
                    row_size: Set(row.seats),
                    accessible: Set(row.accessible.contains(&number)),
                    label: Set(seat_label(section_name, row_label, number)),
                    ..Default::default()
                });
                if batch.len() == 1000 {
                    seat::Entity::insert_many(std::mem::take(&mut batch))
                        .exec(conn)
                        .await?;
                }
            }
        }
    }
    if !batch.is_empty() {
        seat::Entity::insert_many(batch).exec(conn).await?;
    }
    Ok(())
}

/// A venue by id (venues are public).
pub async fn find(conn: &impl ConnectionTrait, id: i64) -> AppResult<Option<venue::Model>> {
    Ok(venue::Entity::find_by_id(id).one(conn).await?)
}

/// The seats of a venue, in seat-map order.
pub async fn seats(conn: &impl ConnectionTrait, venue_id: i64) -> AppResult<Vec<seat::Model>> {
    Ok(seat::Entity::find()
        .filter(seat::Column::VenueId.eq(venue_id))
        .order_by_asc(seat::Column::SectionOrder)
        .order_by_asc(seat::Column::RowRank)
        .order_by_asc(seat::Column::Number)
        .all(conn)
        .await?)
}

/// Whether `center_id` may host performances at `venue`: its owner, or a center it is
/// explicitly shared with.
pub async fn may_host(
    conn: &impl ConnectionTrait,
    venue: &venue::Model,
    center_id: i64,
) -> AppResult<bool> {
    if venue.center_id == center_id {
        return Ok(true);
    }
    Ok(venue_share::Entity::find_by_id((venue.id, center_id))
        .one(conn)
        .await?
        .is_some())
}

/// The centers a venue is shared with (besides its owner).
pub async fn shared_with(conn: &impl ConnectionTrait, venue_id: i64) -> AppResult<Vec<i64>> {
    Ok(venue_share::Entity::find()
        .filter(venue_share::Column::VenueId.eq(venue_id))
        .all(conn)
        .await?
        .into_iter()
        .map(|s| s.center_id)
        .collect())
}
