//! The `vitrine` command line.

use std::path::PathBuf;

use anyhow::Context;
use clap::builder::TypedValueParser;
use clap::{Parser, Subcommand};
use migration::{Migrator, MigratorTrait};
use sea_orm::TransactionTrait;

use vitrine::accounts::model::{check_username, normalize_email};
use vitrine::accounts::repo::{self, NewUser};
use vitrine::auth::Role;
use vitrine::auth::password::{Passwords, check_new_password};
use vitrine::catalog::import;
use vitrine::config::Config;
use vitrine::startup::Application;
use vitrine::{db, telemetry};

#[derive(Parser)]
#[command(
    name = "vitrine",
    version,
    about = "A server for a collectors' community"
)]
struct Cli {
    /// Configuration file (default: `vitrine.toml`, or `VITRINE_CONFIG`).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the HTTP server.
    Serve,
    /// Applies, reverts or lists schema migrations.
    Migrate {
        #[command(subcommand)]
        action: Option<MigrateAction>,
    },
    /// Manages users.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Imports catalog data.
    Import {
        #[command(subcommand)]
        what: ImportWhat,
    },
    /// Writes a consistent backup while the server keeps serving: the database
    /// (`VACUUM INTO` or `pg_dump`), the files on local disk, and a manifest with counts and
    /// a SHA-256 per file. S3 files stay in their bucket and are listed.
    Backup {
        /// A directory, or `s3://bucket/prefix` (reached with the configured S3 settings).
        dest: String,
    },
    /// Restores a backup into an empty data directory (and, with PostgreSQL, an empty
    /// database), then checks that every file row's blob is there with its checksum.
    Restore {
        /// A backup's directory or `s3://bucket/prefix`.
        src: String,
        /// Restore over a data directory or database that is not empty.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum ImportWhat {
    /// Watches from a JSON array or a CSV file; references are created on the fly and
    /// watches matched on `folder`, so importing twice changes nothing.
    Catalog {
        file: PathBuf,
        /// Records written per transaction (1–5000). Larger batches import faster and
        /// hold SQLite's write lock longer at a time.
        #[arg(
            long,
            default_value_t = import::DEFAULT_BATCH_SIZE,
            value_parser = clap::value_parser!(u16).range(1..=5000).map(usize::from),
        )]
        batch_size: usize,
    },
    /// Photos laid out as DIR/{folder}/{main,left,right,bottom}.{jpg,jpeg,png,webp}.
    Images { dir: PathBuf },
}

#[derive(Subcommand, Clone, Copy)]
enum MigrateAction {
    /// Applies every pending migration (the default).
    Up,
    /// Reverts the last applied migration.
    Down,
    /// Lists migrations and whether each is applied.
    Status,
}

#[derive(Subcommand)]
enum UserAction {
    /// Creates a user who can sign in with a password.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        password: String,
        /// user, moderator or admin
        #[arg(long, default_value = "user")]
        role: Role,
    },
}

fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve => serve(config).await,
        Command::Migrate { action } => migrate(config, action.unwrap_or(MigrateAction::Up)).await,
        Command::User {
            action:
                UserAction::Create {
                    username,
                    email,
                    password,
                    role,
                },
        } => create_user(config, username, email, password, role).await,
        Command::Import { what } => import(config, what).await,
        Command::Backup { dest } => vitrine::backup::backup_command(&config, &dest).await,
        Command::Restore { src, force } => {
            vitrine::backup::restore_command(&config, &src, force).await
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let _log_guards = telemetry::init(&config.log_dir, &config.log_level)?;
    let env = config.env;
    let application = match Application::build(config).await {
        Ok(application) => application,
        Err(err) => {
            tracing::error!(error = ?err, "vitrine could not start");
            return Err(err);
        }
    };
    tracing::info!(port = application.port(), env = ?env, "vitrine is listening");
    application.run_until_stopped(shutdown_signal()).await?;
    tracing::info!("vitrine stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down; finishing requests in flight");
}

async fn import(config: Config, what: ImportWhat) -> anyhow::Result<()> {
    let summary = match what {
        ImportWhat::Catalog { file, batch_size } => {
            // a file that is not there or of another kind fails before the database opens
            import::Format::of(&file)?;
            anyhow::ensure!(file.is_file(), "reading {}: no such file", file.display());
            let db = db::connect(&config).await?;
            db::prepare_schema(&db, config.env).await?;
            import::import_catalog(&db, &file, batch_size).await?
        }
        ImportWhat::Images { dir } => {
            let state = vitrine::startup::build_state(config).await?;
            import::import_images(&state, &dir).await?
        }
    };
    summary.print();
    Ok(())
}

async fn migrate(config: Config, action: MigrateAction) -> anyhow::Result<()> {
    let db = db::connect(&config).await?;
    match action {
        MigrateAction::Up => {
            Migrator::up(&db, None)
                .await
                .context("applying migrations")?;
            println!("migrations applied");
        }
        MigrateAction::Down => {
            Migrator::down(&db, Some(1))
                .await
                .context("reverting the last migration")?;
            println!("last migration reverted");
        }
        MigrateAction::Status => {
            let applied = Migrator::get_applied_migrations(&db).await?;
            let pending = Migrator::get_pending_migrations(&db).await?;
            for migration in &applied {
                println!("applied  {}", migration.name());
            }
            for migration in &pending {
                println!("pending  {}", migration.name());
            }
            println!("{} applied, {} pending", applied.len(), pending.len());
        }
    }
    Ok(())
}

async fn create_user(
    config: Config,
    username: String,
    email: String,
    password: String,
    role: Role,
) -> anyhow::Result<()> {
    let field_error =
        |err: vitrine::error::FieldError| anyhow::anyhow!("{} {}", err.field, err.message);
    check_username("username", &username).map_err(field_error)?;
    let email = normalize_email("email", &email).map_err(field_error)?;
    check_new_password("password", &password, &username, &email).map_err(field_error)?;
    let db = db::connect(&config).await?;
    db::prepare_schema(&db, config.env).await?;
    if repo::username_taken(&db, &username, None).await? {
        anyhow::bail!("the username {username} is taken");
    }
    if repo::find_user_by_email(&db, &email).await?.is_some() {
        anyhow::bail!("an account with the email {email} exists");
    }
    let password_hash = Passwords::new()?.hash(&password).await?;
    let tx = db.begin().await?;
    let user = repo::insert_user(
        &tx,
        NewUser {
            username,
            email,
            role,
            password_hash: Some(password_hash),
        },
    )
    .await?;
    tx.commit().await?;
    println!(
        "created user {} ({}) with id {} and role {}",
        user.username, user.email, user.user_id, user.role
    );
    Ok(())
}
