//! sea-orm entities, one module per table. They mirror the migrations and know nothing of
//! GraphQL or of the rules that the domain layer applies.

pub mod account;
pub mod account_security;
pub mod audit_entry;
pub mod booking;
pub mod booking_suspension;
pub mod center;
pub mod enums;
pub mod inventory;
pub mod login_attempt;
pub mod no_show;
pub mod notification;
pub mod password_reset;
pub mod performance;
pub mod production;
pub mod production_follow;
pub mod refresh_session;
pub mod resident_hold;
pub mod seasonal_allocation;
pub mod seat;
pub mod seat_pool;
pub mod ticket;
pub mod venue;
pub mod venue_share;
pub mod waitlist_entry;
