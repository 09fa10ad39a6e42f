//! Opaque global ids: `base64url("<Type>:<row id>")`. A malformed id, or one of another
//! type, decodes to `NOT_FOUND` — never to an internal error.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{AppError, AppResult};

/// The types that implement `Node`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `Center`.
    Center,
    /// `Account`.
    Account,
    /// `Venue`.
    Venue,
    /// `Seat`.
    Seat,
    /// `Performance`.
    Performance,
    /// `SeasonalAllocation`.
    SeasonalAllocation,
    /// `Booking`.
    Booking,
    /// `Ticket`.
    Ticket,
    /// `AuditEntry`.
    AuditEntry,
    /// `Production`.
    Production,
    /// `Notification`.
    Notification,
    /// `WaitlistEntry`.
    WaitlistEntry,
}

impl Kind {
    /// The GraphQL type name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Center => "Center",
            Kind::Account => "Account",
            Kind::Venue => "Venue",
            Kind::Seat => "Seat",
            Kind::Performance => "Performance",
            Kind::SeasonalAllocation => "SeasonalAllocation",
            Kind::Booking => "Booking",
            Kind::Ticket => "Ticket",
            Kind::AuditEntry => "AuditEntry",
            Kind::Production => "Production",
            Kind::Notification => "Notification",
            Kind::WaitlistEntry => "WaitlistEntry",
        }
    }

    /// The kind with this GraphQL type name.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    const ALL: [Kind; 12] = [
        Kind::Center,
        Kind::Account,
        Kind::Venue,
        Kind::Seat,
        Kind::Performance,
        Kind::SeasonalAllocation,
        Kind::Booking,
        Kind::Ticket,
        Kind::AuditEntry,
        Kind::Production,
        Kind::Notification,
        Kind::WaitlistEntry,
    ];
}

/// The global id of row `id` of type `kind`.
pub fn encode(kind: Kind, id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{id}", kind.name()))
}

/// Any global id: its type and row id.
pub fn decode_any(global: &str) -> Option<(Kind, i64)> {
    let bytes = URL_SAFE_NO_PAD.decode(global.trim()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (name, id) = text.split_once(':')?;
    let kind = Kind::ALL.into_iter().find(|k| k.name() == name)?;
    let id: i64 = id.parse().ok()?;
    (id > 0 && id.to_string() == id_text(&text)).then_some((kind, id))
}

fn id_text(text: &str) -> &str {
    text.split_once(':').map_or("", |(_, id)| id)
}

/// The row id of a global id that must be of type `kind`; `NOT_FOUND` otherwise.
pub fn decode(kind: Kind, global: &str) -> AppResult<i64> {
    match decode_any(global) {
        Some((k, id)) if k == kind => Ok(id),
        _ => Err(AppError::NotFound(kind.name())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_other_types() {
        let id = encode(Kind::Performance, 42);
        assert_eq!(decode(Kind::Performance, &id).ok(), Some(42));
        assert!(decode(Kind::Venue, &id).is_err());
        assert!(decode(Kind::Venue, "not base64!").is_err());
        assert!(decode_any(&URL_SAFE_NO_PAD.encode("Venue:007")).is_none());
    }
}
