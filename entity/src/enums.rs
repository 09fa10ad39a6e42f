//! The closed sets of values stored as text columns (each has a CHECK in the migration).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// What an account may do.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum Role {
    /// A person who books seats.
    #[sea_orm(string_value = "RESIDENT")]
    Resident,
    /// Manages its center's staff, and everything a scheduler does.
    #[sea_orm(string_value = "CENTER_ADMIN")]
    CenterAdmin,
    /// Venues, performances and allocations of its center, and everything an usher does.
    #[sea_orm(string_value = "SCHEDULER")]
    Scheduler,
    /// Checks tickets in at the door.
    #[sea_orm(string_value = "USHER")]
    Usher,
}

/// What kind of place a venue is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum VenueKind {
    /// A theatre with a stage.
    #[sea_orm(string_value = "THEATER")]
    Theater,
    /// A multi-purpose hall.
    #[sea_orm(string_value = "HALL")]
    Hall,
    /// An exhibition gallery.
    #[sea_orm(string_value = "GALLERY")]
    Gallery,
    /// An open-air site.
    #[sea_orm(string_value = "OUTDOOR")]
    Outdoor,
}

/// How a venue's places are sold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
pub enum SeatingMode {
    /// Numbered seats.
    #[sea_orm(string_value = "RESERVED")]
    Reserved,
    /// A capacity, no seat numbers.
    #[sea_orm(string_value = "GENERAL_ADMISSION")]
    GeneralAdmission,
}

/// What a performance is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[allow(missing_docs)]
pub enum PerformanceCategory {
    #[sea_orm(string_value = "OPERA")]
    Opera,
    #[sea_orm(string_value = "DRAMA")]
    Drama,
    #[sea_orm(string_value = "CONCERT")]
    Concert,
    #[sea_orm(string_value = "DANCE")]
    Dance,
    #[sea_orm(string_value = "GALA")]
    Gala,
    #[sea_orm(string_value = "EXHIBITION")]
    Exhibition,
    #[sea_orm(string_value = "SPORT")]
    Sport,
    #[sea_orm(string_value = "LECTURE")]
    Lecture,
    #[sea_orm(string_value = "OTHER")]
    Other,
}

/// Where a performance is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum PerformanceStatus {
    /// Being prepared; visible to the host center's staff only.
    #[sea_orm(string_value = "DRAFT")]
    Draft,
    /// Public, and bookable inside its booking window.
    #[sea_orm(string_value = "PUBLISHED")]
    Published,
    /// Called off; all its bookings are cancelled.
    #[sea_orm(string_value = "CANCELLED")]
    Cancelled,
}

/// Where a seasonal allocation is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum AllocationStatus {
    /// Waiting for the other party's answer.
    #[sea_orm(string_value = "PROPOSED")]
    Proposed,
    /// Agreed; exchange sessions may be scheduled on it.
    #[sea_orm(string_value = "ACCEPTED")]
    Accepted,
    /// Refused by the other party.
    #[sea_orm(string_value = "DECLINED")]
    Declined,
    /// Taken back by its proposer.
    #[sea_orm(string_value = "WITHDRAWN")]
    Withdrawn,
}

/// Whether a booking stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum BookingStatus {
    /// The booking holds its tickets.
    #[sea_orm(string_value = "CONFIRMED")]
    Confirmed,
    /// Cancelled by the resident or with the performance.
    #[sea_orm(string_value = "CANCELLED")]
    Cancelled,
}

/// Where a ticket is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum TicketStatus {
    /// Admits its holder.
    #[sea_orm(string_value = "VALID")]
    Valid,
    /// Scanned at the door.
    #[sea_orm(string_value = "CHECKED_IN")]
    CheckedIn,
    /// No longer admits anyone.
    #[sea_orm(string_value = "CANCELLED")]
    Cancelled,
    /// Still VALID when its performance ended: nobody came with it.
    #[sea_orm(string_value = "NO_SHOW")]
    NoShow,
}

/// Where a waiting-list entry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum WaitlistStatus {
    /// In the queue.
    #[sea_orm(string_value = "WAITING")]
    Waiting,
    /// Seats are held for it until `offer_expires_at`.
    #[sea_orm(string_value = "OFFERED")]
    Offered,
    /// The offer was accepted: a booking.
    #[sea_orm(string_value = "BOOKED")]
    Booked,
    /// The holder declined the offer.
    #[sea_orm(string_value = "DECLINED")]
    Declined,
    /// The offer ran out, or booking closed while it waited.
    #[sea_orm(string_value = "EXPIRED")]
    Expired,
    /// The holder left the list, or booked the performance directly.
    #[sea_orm(string_value = "LEFT")]
    Left,
    /// The performance was cancelled, or the entry no longer fits the holder's limit.
    #[sea_orm(string_value = "CANCELLED")]
    Cancelled,
}

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
pub enum NotificationKind {
    /// Seats are held for the account's waiting-list entry.
    #[sea_orm(string_value = "WAITLIST_OFFER")]
    WaitlistOffer,
    /// A waiting-list offer lapsed.
    #[sea_orm(string_value = "OFFER_EXPIRED")]
    OfferExpired,
    /// A center published a session of a production the account follows.
    #[sea_orm(string_value = "PRODUCTION_SCHEDULED")]
    ProductionScheduled,
    /// A performance the account holds tickets for was cancelled.
    #[sea_orm(string_value = "PERFORMANCE_CANCELLED")]
    PerformanceCancelled,
    /// The account's bookings are suspended after repeated no-shows.
    #[sea_orm(string_value = "BOOKING_SUSPENDED")]
    BookingSuspended,
}

impl NotificationKind {
    /// The value stored in the `kind` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WaitlistOffer => "WAITLIST_OFFER",
            Self::OfferExpired => "OFFER_EXPIRED",
            Self::ProductionScheduled => "PRODUCTION_SCHEDULED",
            Self::PerformanceCancelled => "PERFORMANCE_CANCELLED",
            Self::BookingSuspended => "BOOKING_SUSPENDED",
        }
    }
}
