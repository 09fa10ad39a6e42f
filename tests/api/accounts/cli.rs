//! The `create-account` command and the demo seeding, run as the real binary.

use super::*;

/// An app on a fresh database holding only the three centers (no accounts).
async fn app_with_centers_only() -> TestApp {
    let app = spawn_on(&fresh_database().await, settings()).await;
    zouqin::demo::seed_centers(&app.db.conn)
        .await
        .expect("centers");
    app
}

#[tokio::test]
async fn the_cli_creates_a_staff_account_that_can_log_in() {
    let app = app_with_centers_only().await;
    let password = "cli-password-123";
    let run = zouqin_cli(
        &[
            "create-account",
            "--email",
            "Ops@Pinghu.example",
            "--role",
            "SCHEDULER",
            "--center",
            "pinghu",
        ],
        &[
            ("DATABASE_URL", app.database_url.as_str()),
            ("ZOUQIN_PASSWORD", password),
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
        !run.stdout.contains(password) && !run.stderr.contains(password),
        "the password is never echoed"
    );
    let login = app.login("ops@pinghu.example", password).await;
    let token = str_at(login.data(), "/login/accessToken").to_owned();
    let me = me(&app, &token).await;
    assert_eq!(me.data()["me"]["role"], "SCHEDULER");
    assert_eq!(me.data()["me"]["center"]["code"], "pinghu");
}

#[tokio::test]
async fn the_cli_reads_the_password_from_stdin_when_the_env_var_is_unset() {
    let app = app_with_centers_only().await;
    let password = "stdin-password-123";
    let run = zouqin_cli(
        &[
            "create-account",
            "--email",
            "door@jiashan.example",
            "--role",
            "USHER",
            "--center",
            "jiashan",
        ],
        &[("DATABASE_URL", app.database_url.as_str())],
        Some(&format!("{password}\n")),
    )
    .await;
    assert!(
        run.success,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    let login = app.login("door@jiashan.example", password).await;
    let token = str_at(login.data(), "/login/accessToken").to_owned();
    let me = me(&app, &token).await;
    assert_eq!(me.data()["me"]["role"], "USHER");
    assert_eq!(me.data()["me"]["center"]["code"], "jiashan");
}

#[tokio::test]
async fn the_cli_seeds_centers_and_the_created_account_logs_in() {
    let url = fresh_database().await;
    let seed = zouqin_cli(
        &["seed-demo"],
        &[
            ("DATABASE_URL", url.as_str()),
            ("ZOUQIN_DEMO_PASSWORD", "demo-password-123"),
        ],
        None,
    )
    .await;
    assert!(
        seed.success,
        "stdout: {}\nstderr: {}",
        seed.stdout, seed.stderr
    );
    let run = zouqin_cli(
        &[
            "create-account",
            "--email",
            "boss@jinshan.example",
            "--role",
            "CENTER_ADMIN",
            "--center",
            "jinshan",
        ],
        &[
            ("DATABASE_URL", url.as_str()),
            ("ZOUQIN_PASSWORD", "boss-password-123"),
        ],
        None,
    )
    .await;
    assert!(
        run.success,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    let app = spawn_on(&url, settings()).await;
    let login = app.login("boss@jinshan.example", "boss-password-123").await;
    let token = str_at(login.data(), "/login/accessToken").to_owned();
    let me = me(&app, &token).await;
    assert_eq!(me.data()["me"]["role"], "CENTER_ADMIN");
    assert_eq!(me.data()["me"]["center"]["code"], "jinshan");
}

#[tokio::test]
async fn the_cli_never_takes_the_password_from_the_command_line() {
    let app = app_with_centers_only().await;
    let run = zouqin_cli(
        &[
            "create-account",
            "--email",
            "argv@pinghu.example",
            "--role",
            "USHER",
            "--center",
            "pinghu",
            "--password",
            "argv-password-123",
        ],
        &[
            ("DATABASE_URL", app.database_url.as_str()),
            ("ZOUQIN_PASSWORD", "env-password-123"),
        ],
        None,
    )
    .await;
    assert_eq!(
        run.code,
        Some(2),
        "--password must be refused as a usage error: stdout: {}\nstderr: {}",
        run.stdout,
        run.stderr
    );
    assert!(
        run.stderr.contains("unexpected argument '--password'"),
        "{}",
        run.stderr
    );
    assert!(account_row(&app, "argv@pinghu.example").await.is_none());
}

/// Rows per table of a database (every table but the migration bookkeeping).
async fn row_counts(url: &str) -> Vec<(String, i64)> {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let db = zouqin::db::connect(url, 1, std::time::Duration::from_secs(5))
        .await
        .expect("connect");
    let conn = &db.conn;
    let backend = conn.get_database_backend();
    let list = match backend {
        DbBackend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             AND name <> 'seaql_migrations' ORDER BY name"
        }
        _ => {
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' \
             AND table_name <> 'seaql_migrations' ORDER BY table_name"
        }
    };
    let tables: Vec<String> = conn
        .query_all_raw(Statement::from_string(backend, list))
        .await
        .expect("tables")
        .iter()
        .map(|row| row.try_get_by_index::<String>(0).expect("name"))
        .collect();
    let mut counts = Vec::new();
    for table in tables {
        let row = conn
            .query_one_raw(Statement::from_string(
                backend,
                format!("SELECT COUNT(*) FROM \"{table}\""),
            ))
            .await
            .expect("count")
            .expect("row");
        counts.push((table, row.try_get_by_index::<i64>(0).expect("count")));
    }
    counts
}

#[tokio::test]
async fn seeding_the_demo_twice_adds_nothing_the_second_time() {
    let url = fresh_database().await;
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("ZOUQIN_DEMO_PASSWORD", "demo-password-123"),
    ];
    let first = zouqin_cli(&["seed-demo"], &env, None).await;
    assert!(first.success, "stderr: {}", first.stderr);
    let after_first = row_counts(&url).await;
    let performances = after_first
        .iter()
        .find(|(t, _)| t == "performance")
        .map(|(_, n)| *n);
    assert!(performances.is_some_and(|n| n > 5), "{after_first:?}");
    let second = zouqin_cli(&["seed-demo"], &env, None).await;
    assert!(second.success, "stderr: {}", second.stderr);
    assert_eq!(row_counts(&url).await, after_first);
}

#[tokio::test]
async fn the_cli_refuses_a_short_password_and_an_unknown_center() {
    let app = app_with_centers_only().await;
    let url = app.database_url.clone();
    let short = zouqin_cli(
        &[
            "create-account",
            "--email",
            "short@pinghu.example",
            "--role",
            "USHER",
            "--center",
            "pinghu",
        ],
        &[
            ("DATABASE_URL", url.as_str()),
            ("ZOUQIN_PASSWORD", "123456789"),
        ],
        None,
    )
    .await;
    assert_eq!(short.code, Some(1), "stdout: {}", short.stdout);
    assert!(
        short.stderr.contains("BAD_USER_INPUT") && short.stderr.contains("at least 10 characters"),
        "{}",
        short.stderr
    );
    let nowhere = zouqin_cli(
        &[
            "create-account",
            "--email",
            "nowhere@pinghu.example",
            "--role",
            "USHER",
            "--center",
            "atlantis",
        ],
        &[
            ("DATABASE_URL", url.as_str()),
            ("ZOUQIN_PASSWORD", "long-enough-password"),
        ],
        None,
    )
    .await;
    assert_eq!(nowhere.code, Some(1), "stdout: {}", nowhere.stdout);
    assert!(
        nowhere.stderr.contains("no center with code atlantis"),
        "{}",
        nowhere.stderr
    );
    assert!(account_row(&app, "short@pinghu.example").await.is_none());
    assert!(account_row(&app, "nowhere@pinghu.example").await.is_none());
}
