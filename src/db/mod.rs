//! Database connection (SQLite or PostgreSQL) and the migration policy at start-up.

mod checkpoint;
mod pool_waits;
mod postgres_read;
pub mod prepared;
pub mod read;
pub mod write;

use std::str::FromStr;
use std::time::{Duration, Instant};

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
pub use pool_waits::PoolWaits;

/// How long the server waits at start for PostgreSQL to accept connections.
const STARTUP_CONNECT_PATIENCE: Duration = Duration::from_secs(10);

/// Opens the configured database. SQLite gets WAL, foreign keys and a busy timeout.
pub async fn connect(config: &Config) -> anyhow::Result<DatabaseConnection> {
    connect_with(config, None).await
}

/// As [`connect`], for a server whose SQLite file has a [`write::Writer`] of its own:
/// the pool's commits leave copying the log to the writer's task (a commit through the
/// pool then never waits for the disk on the request path, as the writer's never do),
/// and the pool's writes take turns with the writer's through `waits`.
pub async fn connect_beside_writer(
    config: &Config,
    waits: &'static PoolWaits,
) -> anyhow::Result<DatabaseConnection> {
    connect_with(config, Some(waits)).await
}

async fn connect_with(
    config: &Config,
    beside_writer: Option<&'static PoolWaits>,
) -> anyhow::Result<DatabaseConnection> {
    let url = config.database_url();
    if url.starts_with("sqlite:") {
        let mut options = SqliteConnectOptions::from_str(&url)
            .context("parsing the SQLite URL")?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        if beside_writer.is_some() {
            options = options.pragma("wal_autocheckpoint", "0");
        }
        if let Some(parent) = options.get_filename().parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let mut pool = SqlitePoolOptions::new().max_connections(config.db_max_connections.max(1));
        if let Some(waits) = beside_writer {
            pool = pool.after_connect(move |connection, _| Box::pin(waits.watch(connection)));
        }
        let pool = pool
            .connect_with(options)
            .await
            .context("opening the SQLite database")?;
        Ok(SqlxSqliteConnector::from_sqlx_sqlite_pool(pool))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        let mut options = ConnectOptions::new(url);
        // The acquire timeout also bounds how long a request waits while the server is
        // unreachable (sqlx keeps retrying the connection until then): it is answered 503
        // after it instead of hanging.
        options
            .max_connections(config.db_max_connections.max(1))
            .acquire_timeout(config.db_acquire_timeout())
            .sqlx_logging(false);
        // At start the server may still be coming up: keep trying for a while.
        let deadline = Instant::now() + STARTUP_CONNECT_PATIENCE;
        loop {
            match Database::connect(options.clone()).await {
                Ok(db) => return Ok(db),
                Err(err) if Instant::now() < deadline => {
                    tracing::warn!(error = %err, "PostgreSQL not reachable yet; retrying");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(err) => return Err(err).context("connecting to PostgreSQL"),
            }
        }
    } else {
        bail!("DATABASE_URL must start with postgres:// or sqlite://")
    }
}

/// The SQLite database file, for the direct readers of [`read::Reader`]; `None` for
/// PostgreSQL, an in-memory database, or when direct reads are turned off.
pub fn sqlite_file(config: &Config) -> Option<std::path::PathBuf> {
    let url = config.database_url();
    if !config.sqlite_direct_reads || !url.starts_with("sqlite:") {
        return None;
    }
    let options = SqliteConnectOptions::from_str(&url).ok()?;
    let file = options.get_filename();
    (file != std::path::Path::new(":memory:")).then(|| file.to_path_buf())
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

/// After a bulk load into `tables`. PostgreSQL plans from table statistics, which until
/// autovacuum's next analysis describe the tables as they were before the load (or
/// half-way through it), and an index-only scan reads the table too until a vacuum has
/// marked its pages all-visible: both are done now rather than by autovacuum under the
/// first requests. Right after importing 100,000 watches, lists and searches otherwise
/// ran at two-thirds of their rate for minutes. SQLite keeps no statistics unless asked,
/// and its plans here follow the indexes the queries are written for.
pub async fn after_bulk_load(db: &DatabaseConnection, tables: &[&str]) -> anyhow::Result<()> {
    if is_postgres(db) && !tables.is_empty() {
        let tables = tables
            .iter()
            .map(|table| format!("\"{table}\""))
            .collect::<Vec<_>>()
            .join(", ");
        db.execute_unprepared(&format!("VACUUM (ANALYZE) {tables}"))
            .await
            .context("vacuuming and analysing the loaded tables")?;
    }
    Ok(())
}

pub fn is_postgres(db: &DatabaseConnection) -> bool {
    db.get_database_backend() == DbBackend::Postgres
}

/// Statements with up to this many rows or listed values come in every length; longer
/// ones only in the lengths `rows` and `in_list` give them.
const ANY_LENGTH: usize = 64;

/// Cuts `items` into the rows of multi-row statements: runs of `max` (a power of two),
/// then the rest in runs of falling powers of two, down to `ANY_LENGTH` and below. Each
/// statement length is prepared once and kept in the connection's statement cache; a
/// statement of every length would crowd it with large ones used once (on SQLite a
/// cached statement holds its compiled program, megabytes for thousands of rows).
pub fn rows<T>(items: &[T], max: usize) -> impl Iterator<Item = &[T]> {
    let mut rest = items;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let len = if rest.len() >= max {
            max
        } else if rest.len() <= ANY_LENGTH {
            rest.len()
        } else {
            1 << rest.len().ilog2()
        };
        let (run, tail) = rest.split_at(len);
        rest = tail;
        Some(run)
    })
}

/// Cuts `values` into lists for `IN (…)`, of `max` values at most (a power of two),
/// the last one filled up to a power of two by repeating its last value (which changes
/// nothing an `IN` matches), for the reason `rows` gives.
pub fn in_lists<T: Clone>(values: &[T], max: usize) -> impl Iterator<Item = Vec<T>> {
    values.chunks(max.max(1)).map(|chunk| {
        let mut list = chunk.to_vec();
        if list.len() > ANY_LENGTH
            && let Some(last) = list.last().cloned()
        {
            list.resize(list.len().next_power_of_two(), last);
        }
        list
    })
}

/// Whether the database refused a write for breaking a unique key.
pub fn is_unique_violation(err: &sea_orm::DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_statements_come_in_few_lengths() {
        let items: Vec<usize> = (0..3_000).collect();
        let lengths: Vec<usize> = rows(&items, 1024).map(<[usize]>::len).collect();
        assert_eq!(lengths, [1024, 1024, 512, 256, 128, 56]);
        let small: Vec<usize> = rows(&items[..10], 1024).map(<[usize]>::len).collect();
        assert_eq!(small, [10]);
        let all: Vec<usize> = rows(&items, 1024).flatten().copied().collect();
        assert_eq!(all, items);
        assert_eq!(rows(&items[..0], 1024).count(), 0);

        let lists: Vec<Vec<usize>> = in_lists(&items[..1_100], 1024).collect();
        assert_eq!(lists[0].len(), 1024);
        assert_eq!(lists[1].len(), 128);
        let lists: Vec<Vec<usize>> = in_lists(&items[..1_050], 1024).collect();
        assert_eq!(lists[1].len(), 26, "short lists keep their length");
        let lists: Vec<Vec<usize>> = in_lists(&items[..300], 1024).collect();
        assert_eq!(lists[0].len(), 512);
        assert_eq!(lists[0][299..], vec![299; 213][..]);
    }
}
