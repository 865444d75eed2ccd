//! Database connection (SQLite or PostgreSQL) and the migration policy at start-up.

use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, bail};
use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, SqlxSqliteConnector,
    Statement,
};

use crate::config::{Config, Environment};

/// Opens the configured database. SQLite gets WAL, foreign keys and a busy timeout.
pub async fn connect(config: &Config) -> anyhow::Result<DatabaseConnection> {
    let url = config.database_url();
    if url.starts_with("sqlite:") {
        let options = SqliteConnectOptions::from_str(&url)
            .context("parsing the SQLite URL")?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        if let Some(parent) = options.get_filename().parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(config.db_max_connections.max(1))
            .connect_with(options)
            .await
            .context("opening the SQLite database")?;
        Ok(SqlxSqliteConnector::from_sqlx_sqlite_pool(pool))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        let mut options = ConnectOptions::new(url);
        options
            .max_connections(config.db_max_connections.max(1))
            .connect_timeout(Duration::from_secs(10))
            .sqlx_logging(false);
        Database::connect(options)
            .await
            .context("connecting to PostgreSQL")
    } else {
        bail!("DATABASE_URL must start with postgres:// or sqlite://")
    }
}

/// Development applies pending migrations; production refuses to run with any pending.
pub async fn prepare_schema(db: &DatabaseConnection, env: Environment) -> anyhow::Result<()> {
    match env {
        Environment::Development => Migrator::up(db, None).await.context("applying migrations"),
        Environment::Production => {
            let pending = Migrator::get_pending_migrations(db)
                .await
                .context("reading migration status")?;
            if !pending.is_empty() {
                let names: Vec<_> = pending.iter().map(|m| m.name().to_owned()).collect();
                bail!(
                    "{} pending migration(s): {}; run `vitrine migrate up` first",
                    names.len(),
                    names.join(", ")
                );
            }
            Ok(())
        }
    }
}

/// A cheap round trip used by `/readyz`.
pub async fn ping(db: &DatabaseConnection) -> Result<(), sea_orm::DbErr> {
    let backend = db.get_database_backend();
    db.execute(Statement::from_string(backend, "SELECT 1"))
        .await?;
    Ok(())
}

pub fn is_postgres(db: &DatabaseConnection) -> bool {
    db.get_database_backend() == DbBackend::Postgres
}
