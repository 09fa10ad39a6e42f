//! The command line (`create-account`, `reset-password`) and the demo loader, through the
//! audited path.

use std::time::{Duration, Instant};

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use super::*;
use crate::accounts::zouqin_cli;

#[tokio::test]
async fn the_cli_creates_accounts_through_the_audited_path() {
    let app = spawn().await;
    let run = zouqin_cli(
        &[
            "create-account",
            "--email",
            "night@pinghu.example",
            "--role",
            "USHER",
            "--center",
            "pinghu",
        ],
        &[
            ("DATABASE_URL", app.database_url.as_str()),
            ("ZOUQIN_PASSWORD", "night-shift-password"),
        ],
        None,
    )
    .await;
    assert!(
        run.success,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    let admin = app.admin("pinghu").await;
    let entries = audit_log(&app, &admin, Some("account.create")).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert!(
        entries[0]["actor"].is_null(),
        "no account acted: {}",
        entries[0]
    );
    let details: Value =
        serde_json::from_str(entries[0]["details"].as_str().expect("details")).expect("json");
    assert_eq!(details["via"], "cli");
    assert_eq!(details["role"], "USHER");
}

#[tokio::test]
async fn the_cli_reset_recovers_a_locked_out_last_admin_and_ends_its_sessions() {
    let app = spawn().await;
    let (access, refresh_token) = session(&app, "admin@jiashan.example", PASSWORD).await;
    for _ in 0..5 {
        app.login("admin@jiashan.example", "a-wrong-guess-123")
            .await;
    }
    assert_eq!(
        app.login("admin@jiashan.example", PASSWORD).await.code(),
        Some("RATE_LIMITED"),
        "locked out"
    );
    let reset_at = Instant::now();
    let run = zouqin_cli(
        &["reset-password", "--email", "Admin@Jiashan.example"],
        &[
            ("DATABASE_URL", app.database_url.as_str()),
            ("ZOUQIN_PASSWORD", "recovered-password-1"),
        ],
        None,
    )
    .await;
    assert!(
        run.success,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    assert!(
        !run.stdout.contains("recovered-password-1")
            && !run.stderr.contains("recovered-password-1")
    );

    let (fresh, _) = session(&app, "admin@jiashan.example", "recovered-password-1").await;
    assert_eq!(
        app.login("admin@jiashan.example", PASSWORD).await.code(),
        Some("UNAUTHENTICATED")
    );
    assert_eq!(
        refresh(&app, &refresh_token).await.code(),
        Some("UNAUTHENTICATED")
    );
    assert!(
        refused_within(&app, &access, reset_at, Duration::from_secs(5))
            .await
            .is_some()
    );
    let admin_id = my_id(&app, &fresh).await;
    let entries = audit_log(&app, &fresh, Some("account.reset_password")).await;
    assert_one(&entries, "account.reset_password", None, &admin_id);
    let details: Value =
        serde_json::from_str(entries[0]["details"].as_str().expect("details")).expect("json");
    assert_eq!(details, json!({ "via": "cli", "reactivated": false }));
}

#[tokio::test]
async fn the_cli_reset_reactivates_only_when_asked_and_reads_stdin_never_argv() {
    let app = spawn().await;
    let admin = app.admin("pinghu").await;
    app.staff(&admin, "away@pinghu.example", "SCHEDULER").await;
    let away = account_id(
        entity::account::Entity::find()
            .filter(entity::account::Column::Email.eq("away@pinghu.example"))
            .one(&app.db.conn)
            .await
            .expect("query")
            .expect("account")
            .id,
    );
    app.gql(Some(&admin), DEACTIVATE, json!({ "id": away }))
        .await
        .data();
    let url = app.database_url.as_str();

    let argv = zouqin_cli(
        &[
            "reset-password",
            "--email",
            "away@pinghu.example",
            "--password",
            "argv-password-1",
        ],
        &[("DATABASE_URL", url)],
        None,
    )
    .await;
    assert!(!argv.success, "--password must be refused: {}", argv.stdout);

    let plain = zouqin_cli(
        &["reset-password", "--email", "away@pinghu.example"],
        &[("DATABASE_URL", url)],
        Some("back-again-password\n"),
    )
    .await;
    assert!(
        plain.success,
        "stdout: {}\nstderr: {}",
        plain.stdout, plain.stderr
    );
    assert_eq!(
        app.login("away@pinghu.example", "back-again-password")
            .await
            .code(),
        Some("UNAUTHENTICATED"),
        "still deactivated"
    );
    let reactivated = zouqin_cli(
        &[
            "reset-password",
            "--email",
            "away@pinghu.example",
            "--reactivate",
        ],
        &[
            ("DATABASE_URL", url),
            ("ZOUQIN_PASSWORD", "back-again-password"),
        ],
        None,
    )
    .await;
    assert!(reactivated.success, "stderr: {}", reactivated.stderr);
    let (token, _) = session(&app, "away@pinghu.example", "back-again-password").await;
    assert_eq!(
        app.gql(Some(&token), ME, json!({})).await.data()["me"]["active"],
        true
    );
    let unknown = zouqin_cli(
        &["reset-password", "--email", "nobody@pinghu.example"],
        &[
            ("DATABASE_URL", url),
            ("ZOUQIN_PASSWORD", "whatever-password"),
        ],
        None,
    )
    .await;
    assert!(!unknown.success);
    let resets: Vec<String> = audit_log(&app, &admin, Some("account.reset_password"))
        .await
        .iter()
        .map(|e| e["details"].as_str().expect("details").to_owned())
        .collect();
    assert_eq!(resets.len(), 2, "{resets:?}");
    assert!(resets[0].contains("\"reactivated\":true"), "{resets:?}");
    assert!(resets[1].contains("\"reactivated\":false"), "{resets:?}");
}

#[tokio::test]
async fn the_demo_loader_creates_its_admins_through_the_audited_path() {
    let app = spawn_on(&fresh_database().await, settings()).await;
    zouqin::demo::seed(&app.db.conn, "demo-password-123")
        .await
        .expect("demo data");
    let entries = stored_entries(&app).await;
    let admins: Vec<_> = entries
        .iter()
        .filter(|e| e.action == "account.create")
        .collect();
    assert_eq!(admins.len(), 3);
    for entry in &admins {
        assert_eq!(entry.actor_id, None);
        assert!(entry.center_id.is_some());
        assert!(
            entry
                .details
                .as_deref()
                .is_some_and(|d| d.contains("\"via\":\"demo\""))
        );
    }
    assert!(entries.iter().any(|e| e.action == "venue.create"));
    assert!(entries.iter().any(|e| e.action == "performance.publish"));
    let before = entries.len();
    zouqin::demo::seed(&app.db.conn, "demo-password-123")
        .await
        .expect("again");
    assert_eq!(
        stored_entries(&app).await.len(),
        before,
        "a second run changes nothing and logs nothing"
    );
}
