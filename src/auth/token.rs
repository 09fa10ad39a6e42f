//! Access tokens: HS256 JWTs, 15 minutes, with the algorithm, issuer and audience pinned.

use chrono::{DateTime, Duration, Utc};
use entity::enums::Role;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::Identity;
use crate::config::Secret;
use crate::error::{AppError, AppResult};

/// Issuer of every token.
pub const ISSUER: &str = "zouqin";
/// Audience of every access token.
pub const AUDIENCE: &str = "zouqin-api";
/// Lifetime of an access token.
pub const ACCESS_TTL: Duration = Duration::minutes(15);
/// Clock skew tolerated when checking `exp`.
const LEEWAY_SECS: u64 = 5;

/// The claims of an access token.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// The account id.
    pub sub: String,
    /// The account's role, spelled as in the schema (`CENTER_ADMIN`).
    #[serde(with = "role_claim")]
    pub role: Role,
    /// The staff member's center id (absent for residents).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub center: Option<i64>,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Expires at (seconds since the epoch).
    pub exp: i64,
    /// Unique token id.
    pub jti: String,
    /// The account's token epoch at issue; tokens of an older epoch are refused.
    #[serde(default)]
    pub ver: i64,
    /// The login session (refresh family) the token was issued for.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sid: Option<String>,
}

/// The `role` claim uses the schema's spelling (`RESIDENT`, `CENTER_ADMIN`, `SCHEDULER`,
/// `USHER`), not the Rust variant names.
mod role_claim {
    use entity::enums::Role;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(role: &Role, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(crate::auth::role_name(*role))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Role, D::Error> {
        let name = String::deserialize(deserializer)?;
        match name.as_str() {
            "RESIDENT" => Ok(Role::Resident),
            "CENTER_ADMIN" => Ok(Role::CenterAdmin),
            "SCHEDULER" => Ok(Role::Scheduler),
            "USHER" => Ok(Role::Usher),
            // Tokens signed by an older build spelled the role as the Rust variant; they stay
            // valid for the rest of their 15 minutes during a rolling upgrade.
            "Resident" => Ok(Role::Resident),
            "CenterAdmin" => Ok(Role::CenterAdmin),
            "Scheduler" => Ok(Role::Scheduler),
            "Usher" => Ok(Role::Usher),
            other => Err(D::Error::custom(format!("unknown role {other:?}"))),
        }
    }
}

/// Signs and verifies access tokens with one HS256 key.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys([redacted])")
    }
}

impl TokenKeys {
    /// Keys from the configured secret.
    pub fn new(secret: &Secret) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = false;
        Self {
            encoding: EncodingKey::from_secret(secret.expose().as_bytes())
                .expect("BUG: HMAC accepts keys of any length"),
            decoding: DecodingKey::from_secret(secret.expose().as_bytes())
                .expect("BUG: HMAC accepts keys of any length"),
            validation,
        }
    }

    /// Issues an access token for `identity`; returns it with its expiry.
    pub fn issue(
        &self,
        identity: &Identity,
        now: DateTime<Utc>,
    ) -> AppResult<(String, DateTime<Utc>)> {
        let expires_at = now + ACCESS_TTL;
        let claims = Claims {
            sub: identity.account_id.to_string(),
            role: identity.role,
            center: identity.center_id,
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
            jti: super::random_token(16),
            ver: identity.epoch,
            sid: identity.session.clone(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| AppError::Internal(format!("jwt encode: {e}")))?;
        Ok((token, expires_at))
    }

    /// Verifies a token: signature, algorithm, issuer, audience and expiry.
    pub fn verify(&self, token: &str) -> AppResult<Identity> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| AppError::Unauthenticated("invalid or expired access token".to_owned()))?;
        let claims = data.claims;
        let account_id = claims
            .sub
            .parse()
            .map_err(|_| AppError::Unauthenticated("invalid access token".to_owned()))?;
        let staff = claims.role != Role::Resident;
        if staff != claims.center.is_some() {
            return Err(AppError::Unauthenticated("invalid access token".to_owned()));
        }
        Ok(Identity {
            account_id,
            role: claims.role,
            center_id: claims.center,
            epoch: claims.ver,
            session: claims.sid,
        })
    }
}
