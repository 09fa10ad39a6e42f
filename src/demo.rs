//! The demo data of DOMAIN.md (filled in below).

use sea_orm::DatabaseConnection;

use crate::error::AppResult;

/// Password of the demo admins when `serve --demo` runs without ZOUQIN_DEMO_PASSWORD.
pub const DEFAULT_PASSWORD: &str = "zouqin-demo-2019";

/// Loads the demo data idempotently; returns a summary.
pub async fn seed(_conn: &DatabaseConnection, _password: &str) -> AppResult<String> {
    Ok(String::new())
}
