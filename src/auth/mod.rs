//! Who is calling: passwords, access tokens, refresh sessions, and the [`Caller`] that the
//! edge builds once per request and every domain function receives explicitly.

pub mod password;
pub mod revocation;
pub mod token;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use entity::enums::Role;
use sha2::{Digest, Sha256};

use crate::error::{AppError, AppResult};

/// The identity behind a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// No token was sent.
    Anonymous,
    /// A verified access token.
    Account(Identity),
}

/// What a verified access token says about its bearer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The account's id.
    pub account_id: i64,
    /// Its role when the token was issued.
    pub role: Role,
    /// The staff member's center (None for residents).
    pub center_id: Option<i64>,
    /// The account's token epoch when the token was issued (see [`revocation`]).
    pub epoch: i64,
    /// The login session (refresh family) the token belongs to, when it was issued for one.
    pub session: Option<String>,
}

/// A staff member acting for its center, with its role checked.
#[derive(Clone, Copy, Debug)]
pub struct Staff {
    /// The staff account.
    pub account_id: i64,
    /// The center it acts for.
    pub center_id: i64,
    /// Its role.
    pub role: Role,
}

/// What a staff role may do, from least to most.
fn staff_rank(role: Role) -> u8 {
    match role {
        Role::Resident => 0,
        Role::Usher => 1,
        Role::Scheduler => 2,
        Role::CenterAdmin => 3,
    }
}

impl Caller {
    /// The identity, or `UNAUTHENTICATED`.
    pub fn identity(&self) -> AppResult<&Identity> {
        match self {
            Caller::Account(identity) => Ok(identity),
            Caller::Anonymous => Err(AppError::Unauthenticated("sign in to do this".to_owned())),
        }
    }

    /// The resident's account id; `FORBIDDEN` for staff (staff accounts do not book).
    pub fn resident(&self) -> AppResult<i64> {
        let identity = self.identity()?;
        if identity.role == Role::Resident {
            Ok(identity.account_id)
        } else {
            Err(AppError::Forbidden(
                "only residents may do this; staff accounts do not book".to_owned(),
            ))
        }
    }

    /// The staff member, if its role is at least `least`; `FORBIDDEN` otherwise.
    pub fn staff(&self, least: Role) -> AppResult<Staff> {
        let identity = self.identity()?;
        match identity.center_id {
            Some(center_id)
                if identity.role != Role::Resident
                    && staff_rank(identity.role) >= staff_rank(least) =>
            {
                Ok(Staff {
                    account_id: identity.account_id,
                    center_id,
                    role: identity.role,
                })
            }
            _ => Err(AppError::Forbidden(format!(
                "this needs the {} role or higher",
                role_name(least)
            ))),
        }
    }

    /// The center whose staff this caller is, if any (for visibility rules).
    pub fn staff_center(&self) -> Option<i64> {
        match self {
            Caller::Account(Identity {
                center_id: Some(center),
                role,
                ..
            }) if *role != Role::Resident => Some(*center),
            _ => None,
        }
    }

    /// The account id, if signed in.
    pub fn account_id(&self) -> Option<i64> {
        match self {
            Caller::Account(identity) => Some(identity.account_id),
            Caller::Anonymous => None,
        }
    }
}

impl Staff {
    /// `FORBIDDEN` unless this staff member belongs to `center_id`.
    pub fn require_center(&self, center_id: i64) -> AppResult<()> {
        if self.center_id == center_id {
            Ok(())
        } else {
            Err(AppError::Forbidden(
                "staff act only for their own center".to_owned(),
            ))
        }
    }
}

/// The schema spelling of a role.
pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Resident => "RESIDENT",
        Role::CenterAdmin => "CENTER_ADMIN",
        Role::Scheduler => "SCHEDULER",
        Role::Usher => "USHER",
    }
}

/// `bytes` random bytes from the OS generator, URL-safe base64 without padding.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::fill(&mut buf[..]);
    URL_SAFE_NO_PAD.encode(buf)
}

/// Hex SHA-256 of a token: refresh tokens are stored only as this.
pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
