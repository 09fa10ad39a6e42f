//! The `zouqin` binary: parses the command line and hands over to the library.

use std::io::BufRead;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use zouqin::config::{self, Cli, Command, DbArgs};
use zouqin::{app, db, demo, domain};

/// mimalloc instead of glibc's malloc: a request allocates and frees many small objects on
/// whichever worker thread polls it, which glibc's per-arena free lists handle badly
/// (profiled on the browse path: a quarter of the server's CPU in `malloc`/`free`/
/// `malloc_consolidate`). mimalloc's thread-local free lists make that cheap.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(config::log_format_is_json());
    // No command means `serve` (with its settings from the environment).
    let command = match cli.command {
        Some(command) => command,
        None => match Cli::parse_from(["zouqin", "serve"]).command {
            Some(command) => command,
            None => unreachable!("BUG: `serve` parses to a command"),
        },
    };
    match run(command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("zouqin: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn open(args: &DbArgs) -> Result<db::Database, String> {
    let database = db::connect(
        &args.database_url,
        args.db_max_connections,
        args.acquire_timeout(),
    )
    .await
    .map_err(|e| format!("cannot open the database: {e}"))?;
    db::migrate(&database)
        .await
        .map_err(|e| format!("migrations failed: {e}"))?;
    Ok(database)
}

/// The password for `create-account` and `reset-password`: `ZOUQIN_PASSWORD`, else the
/// first line of standard input (never argv, where other users of the machine see it).
/// The operator's password for `create-account` and `reset-password`: `ZOUQIN_PASSWORD`, else
/// one line of stdin (never the command line).
fn operator_password() -> Result<String, String> {
    match config::account_password() {
        Some(password) => Ok(password.expose().to_owned()),
        None => {
            eprintln!("password (one line on stdin):");
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| format!("cannot read the password: {e}"))?;
            Ok(line.trim_end_matches(['\r', '\n']).to_owned())
        }
    }
}

async fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Serve(args) => {
            // A read URL that cannot be a standby of DATABASE_URL is a usage error (exit 2),
            // found before anything is opened.
            if let Err(message) = args.settings.replica.check(&args.db.database_url) {
                Cli::command()
                    .error(clap::error::ErrorKind::ArgumentConflict, message)
                    .exit();
            }
            let mut settings = args.settings.clone();
            settings.read_environment()?;
            let database = open(&args.db).await?;
            if args.demo {
                let password = match config::demo_password() {
                    Some(password) => password.expose().to_owned(),
                    None => {
                        tracing::info!("demo admins' password: {}", demo::DEFAULT_PASSWORD);
                        demo::DEFAULT_PASSWORD.to_owned()
                    }
                };
                demo::seed(&database.conn, &password)
                    .await
                    .map_err(|e| format!("{e:?}"))?;
            }
            let grace = settings.shutdown_grace();
            let application = app::Application::with_database(database, settings.clone())
                .await
                .map_err(|e| e.to_string())?;
            let shutdown = app::exit_after_grace_on_signal(grace)
                .map_err(|e| format!("cannot watch for signals: {e}"))?;
            tracing::info!("serving GraphQL at http://{}/graphql", settings.bind);
            application
                .run_until(shutdown)
                .await
                .map_err(|e| format!("server error: {e}"))
        }
        Command::Generate(args) => {
            let plan = zouqin::generate::Plan::at_scale(args.scale)?;
            let database = db::connect(
                &args.db.database_url,
                args.db.db_max_connections,
                args.db.acquire_timeout(),
            )
            .await
            .map_err(|e| format!("cannot open the database: {e}"))?;
            if database.backend() != sea_orm::DbBackend::Postgres {
                return Err(zouqin::generate::NEEDS_POSTGRES.to_owned());
            }
            let password = operator_password()?;
            let hash = zouqin::auth::password::hash(password)
                .await
                .map_err(|e| format!("cannot hash the password: {e:?}"))?;
            println!(
                "generating at scale {}: {} residents, {} venues, {} performances",
                plan.scale, plan.residents, plan.venues, plan.performances
            );
            let report =
                zouqin::generate::run(&database, &plan, &hash, chrono::Utc::now(), |step, took| {
                    println!("  {step:<40} {:>8.1} s", took.as_secs_f64());
                })
                .await?;
            for (table, rows) in &report.rows {
                println!("  {table:<20} {rows:>12} rows");
            }
            println!(
                "generated in {:.1} s; database size {:.1} MiB",
                report.elapsed.as_secs_f64(),
                report.database_bytes as f64 / (1024.0 * 1024.0)
            );
            if args.check {
                let broken = zouqin::generate::check(&database).await?;
                for (what, rows) in &broken {
                    println!("  BROKEN: {what} ({rows} rows)");
                }
                if !broken.is_empty() {
                    return Err(format!("{} invariants broken", broken.len()));
                }
                println!("every invariant holds");
            }
            Ok(())
        }
        Command::Migrate(args) => {
            open(&args).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::SeedDemo(args) => {
            let password = args
                .demo_password
                .ok_or("set ZOUQIN_DEMO_PASSWORD to the password for the demo admins")?;
            let database = open(&args.db).await?;
            let report = demo::seed(&database.conn, &password)
                .await
                .map_err(|e| format!("{e:?}"))?;
            println!("{report}");
            Ok(())
        }
        Command::CreateAccount(args) => {
            let role = match args.role.to_ascii_uppercase().as_str() {
                "RESIDENT" => entity::enums::Role::Resident,
                "CENTER_ADMIN" => entity::enums::Role::CenterAdmin,
                "SCHEDULER" => entity::enums::Role::Scheduler,
                "USHER" => entity::enums::Role::Usher,
                other => return Err(format!("unknown role {other}")),
            };
            let password = operator_password()?;
            let database = open(&args.db).await?;
            let account = domain::accounts::create_account_cli(
                &database.conn,
                &args.email,
                role,
                args.center.as_deref(),
                args.display_name.as_deref(),
                password,
            )
            .await
            .map_err(|e| format!("{}: {}", e.code(), e.message()))?;
            println!(
                "created account {} ({})",
                account.email,
                args.role.to_ascii_uppercase()
            );
            Ok(())
        }
        Command::ResetPassword(args) => {
            let password = operator_password()?;
            let database = open(&args.db).await?;
            let account = domain::administration::reset_password_cli(
                &database.conn,
                &args.email,
                password,
                args.reactivate,
            )
            .await
            .map_err(|e| format!("{}: {}", e.code(), e.message()))?;
            println!(
                "password of {} reset; every session ended{}",
                account.email,
                if account.active {
                    ""
                } else {
                    " (the account is deactivated: add --reactivate to let it sign in)"
                }
            );
            Ok(())
        }
        Command::ExportSchema => {
            print!("{}", zouqin::graphql::sdl());
            Ok(())
        }
    }
}
