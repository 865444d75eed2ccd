//! Write transactions on the request path. With PostgreSQL they are the pool's
//! transactions. With SQLite they run on one read-write connection of their own, on the
//! calling thread, one transaction at a time: SQLite has one writer anyway, and taking
//! turns here, in a fair queue, replaces the busy-waiting of several pool connections
//! (sleeps of up to 100 ms each) and the hand-offs to sqlx's worker threads, which cost
//! far more than the statements themselves.
//!
//! Other writers of the file (the sqlx pool, another process) still take SQLite's write
//! lock by themselves; `BEGIN IMMEDIATE` waits for them without blocking the thread.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::{ErrorCode, OpenFlags};
use sea_orm::sea_query::{QueryStatementWriter, SqliteQueryBuilder};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, StatementBuilder,
    TransactionTrait,
};

use super::read::{Queries, Row, bind, run};
use crate::error::{AppError, AppResult};

/// How long a write waits for another writer of the SQLite file before giving up (503).
const LOCK_PATIENCE: Duration = Duration::from_secs(5);

pub enum Writer {
    Sqlite(SqliteWriter),
    Pool(DatabaseConnection),
}

pub struct SqliteWriter {
    path: PathBuf,
    /// Whose turn it is; held for a whole transaction, and by each checkpoint.
    turn: Arc<tokio::sync::Mutex<()>>,
    /// Opened on first use, and again after a failure left it in doubt.
    connection: Mutex<Option<rusqlite::Connection>>,
}

/// A transaction of [`Writer`]: rolled back when dropped uncommitted.
pub struct WriteTx<'a> {
    inner: Inner<'a>,
}

enum Inner<'a> {
    Sqlite {
        writer: &'a SqliteWriter,
        _turn: tokio::sync::MutexGuard<'a, ()>,
        open: bool,
    },
    Pool(DatabaseTransaction),
    Done,
}

impl Writer {
    /// Writes through `db` itself unless it is SQLite with a file of its own.
    pub fn new(db: &DatabaseConnection, sqlite_path: Option<PathBuf>) -> Self {
        match sqlite_path {
            Some(path) => Self::Sqlite(SqliteWriter {
                path,
                turn: Arc::new(tokio::sync::Mutex::new(())),
                connection: Mutex::new(None),
            }),
            None => Self::Pool(db.clone()),
        }
    }

    pub async fn begin(&self) -> AppResult<WriteTx<'_>> {
        match self {
            Self::Pool(db) => Ok(WriteTx {
                inner: Inner::Pool(db.begin().await?),
            }),
            Self::Sqlite(writer) => {
                let turn = writer.turn.lock().await;
                writer.begin_immediate().await?;
                Ok(WriteTx {
                    inner: Inner::Sqlite {
                        writer,
                        _turn: turn,
                        open: true,
                    },
                })
            }
        }
    }
}

impl Writer {
    /// The SQLite file and the writers' turn, which a checkpoint takes too.
    pub(super) fn sqlite_turn(&self) -> Option<(&Path, Arc<tokio::sync::Mutex<()>>)> {
        match self {
            Self::Sqlite(writer) => Some((&writer.path, writer.turn.clone())),
            Self::Pool(_) => None,
        }
    }
}

impl SqliteWriter {
    /// Takes SQLite's write lock, waiting (without blocking the thread) while another
    /// connection holds it.
    async fn begin_immediate(&self) -> AppResult<()> {
        let deadline = Instant::now() + LOCK_PATIENCE;
        let mut pause = Duration::from_millis(1);
        loop {
            match self.with_connection(|connection| connection.execute_batch("BEGIN IMMEDIATE")) {
                Ok(()) => return Ok(()),
                Err(err) if is_busy(&err) && Instant::now() < deadline => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
                Err(err) if is_busy(&err) => {
                    return Err(AppError::unavailable(
                        "the database is busy with another writer; retry shortly",
                    ));
                }
                Err(err) => return Err(write_failed(err)),
            }
        }
    }

    fn with_connection<T>(
        &self,
        work: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let mut slot = self.slot();
        let connection = match slot.take() {
            Some(connection) => connection,
            None => open(&self.path)?,
        };
        let result = work(&connection);
        *slot = Some(connection);
        result
    }

    fn slot(&self) -> MutexGuard<'_, Option<rusqlite::Connection>> {
        self.connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Ends the open transaction; when even that fails the connection is closed, so the
    /// next transaction starts on a fresh one rather than inside a stale one.
    fn end(&self, sql: &str) -> rusqlite::Result<()> {
        let mut slot = self.slot();
        let result = match slot.as_ref() {
            Some(connection) => connection.execute_batch(sql),
            None => Ok(()),
        };
        if result.is_err() {
            *slot = None;
        }
        result
    }
}

pub(super) fn open(path: &Path) -> rusqlite::Result<rusqlite::Connection> {
    let connection = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // pragmas are per connection: the same as the pool's
    connection.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")?;
    // a commit must not wait for a checkpoint's disk writes: see `super::checkpoint`
    connection.execute_batch("PRAGMA wal_autocheckpoint = 0;")?;
    // waiting for the lock happens in `begin_immediate`, off the thread
    connection.busy_timeout(Duration::ZERO)?;
    connection.set_prepared_statement_cache_capacity(128);
    Ok(connection)
}

fn is_busy(err: &rusqlite::Error) -> bool {
    matches!(
        err.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// A refused write as the pool's errors become problems: a broken unique key is a
/// conflict, anything else an internal error.
fn write_failed(err: rusqlite::Error) -> AppError {
    if let rusqlite::Error::SqliteFailure(failure, _) = &err {
        match failure.extended_code {
            rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                return AppError::conflict(
                    "already_exists",
                    "a record with these values already exists",
                );
            }
            rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY => {
                return AppError::conflict(
                    "still_referenced",
                    "the record is referenced by other records",
                );
            }
            _ => {}
        }
    }
    if is_busy(&err) {
        return AppError::unavailable("the database is busy with another writer; retry shortly");
    }
    AppError::Internal(anyhow::anyhow!("SQLite write failed: {err}"))
}

/// Whether a write was refused for breaking a unique key (on either database).
pub fn is_conflict(err: &AppError) -> bool {
    matches!(
        err,
        AppError::Conflict {
            code: "already_exists",
            ..
        }
    )
}

impl WriteTx<'_> {
    pub fn backend(&self) -> DbBackend {
        match &self.inner {
            Inner::Sqlite { .. } => DbBackend::Sqlite,
            Inner::Pool(tx) => tx.get_database_backend(),
            Inner::Done => DbBackend::Sqlite,
        }
    }

    /// Runs an insert, update or delete; the number of rows it changed.
    pub async fn execute<S: QueryStatementWriter + StatementBuilder>(
        &self,
        statement: &S,
    ) -> AppResult<u64> {
        match &self.inner {
            Inner::Pool(tx) => {
                let built = tx.get_database_backend().build(statement);
                Ok(tx.execute(built).await?.rows_affected())
            }
            Inner::Sqlite { writer, .. } => {
                let (sql, values) = QueryStatementWriter::build(statement, SqliteQueryBuilder);
                let changed = writer
                    .with_connection(|connection| {
                        let params = bind(values.0)?;
                        connection
                            .prepare_cached(&sql)?
                            .execute(rusqlite::params_from_iter(params))
                    })
                    .map_err(write_failed)?;
                Ok(changed as u64)
            }
            Inner::Done => Err(finished()),
        }
    }

    pub async fn commit(mut self) -> AppResult<()> {
        match &mut self.inner {
            Inner::Pool(_) => {
                let Inner::Pool(tx) = std::mem::replace(&mut self.inner, Inner::Done) else {
                    return Ok(());
                };
                Ok(tx.commit().await?)
            }
            Inner::Sqlite { writer, open, .. } => {
                *open = false;
                writer.end("COMMIT").map_err(write_failed)
            }
            Inner::Done => Ok(()),
        }
    }
}

impl Queries for WriteTx<'_> {
    /// Runs a select, or a write with `RETURNING`, inside the transaction.
    async fn all<S: QueryStatementWriter + StatementBuilder + Sync>(
        &self,
        statement: &S,
    ) -> AppResult<Vec<Row>> {
        match &self.inner {
            Inner::Pool(tx) => {
                let built = tx.get_database_backend().build(statement);
                let rows = tx.query_all(built).await?;
                Ok(rows.into_iter().map(Row::Pool).collect())
            }
            Inner::Sqlite { writer, .. } => {
                let (sql, values) = QueryStatementWriter::build(statement, SqliteQueryBuilder);
                writer
                    .with_connection(|connection| run(connection, &sql, values.0))
                    .map_err(write_failed)
            }
            Inner::Done => Err(finished()),
        }
    }
}

fn finished() -> AppError {
    AppError::Internal(anyhow::anyhow!("the transaction has ended"))
}

impl Drop for WriteTx<'_> {
    fn drop(&mut self) {
        if let Inner::Sqlite { writer, open, .. } = &self.inner
            && *open
            && let Err(err) = writer.end("ROLLBACK")
        {
            tracing::warn!(error = %err, "rolling back a SQLite write failed");
        }
    }
}
