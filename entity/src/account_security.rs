//! The `account_security` table.

use sea_orm::entity::prelude::*;

/// An account's token epoch and password history; absent: epoch 0, password never changed.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "account_security")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub account_id: i64,
    /// Access tokens issued under an older epoch are refused (see `auth::revocation`).
    pub token_epoch: i64,
    /// When `token_epoch` last changed.
    pub token_epoch_at: DateTimeUtc,
    /// The session (refresh family) whose older tokens the last epoch change kept.
    pub epoch_kept_session: Option<String>,
    /// The oldest epoch of `epoch_kept_session`'s tokens that stay valid.
    pub epoch_kept_from: Option<i64>,
    /// When the password was last changed or reset (login failures before it no longer count).
    pub password_changed_at: Option<DateTimeUtc>,
}

/// No relations are declared: the domain layer joins explicitly where it needs to.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
