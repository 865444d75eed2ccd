//! Write transactions on the request path. With PostgreSQL they are the pool's
//! transactions. With SQLite they run on one read-write connection of their own, on the
//! calling thread, one transaction at a time: SQLite has one writer anyway, and taking
//! turns here, in a fair queue, replaces the busy-waiting of several pool connections
//! (sleeps of up to 100 ms each) and the hand-offs to sqlx's worker threads, which cost
//! far more than the statements themselves.
//!
//! Other writers of the file (the sqlx pool, another process) still take SQLite's write
//! lock by themselves; `BEGIN IMMEDIATE` waits for them without blocking the thread.
//!
//! Group commit: on SQLite each transaction is a savepoint inside a shared one. When a
//! transaction commits while others wait for their turn, the shared transaction stays
//! open for them, and one `COMMIT` ends the whole group. Every member's `commit` returns
//! only once that `COMMIT` is done (or failed: then every member gets the error), so
//! nothing is answered or announced before it is in the database. Transactions that come
//! together touch the same pages (a chat's newest rows and index leaves), which are then
//! written to the log once per group instead of once per transaction.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::{ErrorCode, OpenFlags};
use sea_orm::sea_query::{QueryStatementWriter, SqliteQueryBuilder};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, StatementBuilder,
    TransactionTrait,
};

use super::PoolWaits;
use super::read::{Queries, Reader, Row, bind, run};
use crate::error::{AppError, AppResult};

/// How long a write waits for another writer of the SQLite file before giving up (503).
const LOCK_PATIENCE: Duration = Duration::from_secs(5);

/// How long the writer leaves SQLite's lock to the pool's waiting writes, at most,
/// before each group…
const POOL_WRITES_FIRST: Duration = Duration::from_millis(20);
/// …while one of them waited this recently (they try every millisecond).
const POOL_WAITING: Duration = Duration::from_millis(3);

/// A group is committed once it has this many members…
const GROUP_MEMBERS: usize = 32;
/// …or once its first member has waited this long, whoever is still waiting for a turn.
const GROUP_AGE: Duration = Duration::from_millis(5);
/// A member waiting this long for its group's commit commits the group itself: the
/// transaction it counted on to do so may have been cancelled before its turn.
const GROUP_PATIENCE: Duration = Duration::from_millis(5);
/// Failed groups remembered for members that have not looked yet.
const FAILURES_KEPT: usize = 16;

pub enum Writer {
    Sqlite(Arc<SqliteWriter>),
    Pool(DatabaseConnection),
}

pub struct SqliteWriter {
    path: PathBuf,
    /// SQLite's log beside it.
    log: PathBuf,
    /// How far the log may grow while writes never pause; see `super::checkpoint`.
    log_limit: u64,
    /// Whose turn it is; held for a whole transaction, and by each checkpoint.
    turn: Arc<tokio::sync::Mutex<()>>,
    /// Opened on first use, and again after a failure left it in doubt.
    connection: Mutex<Option<rusqlite::Connection>>,
    /// Transactions waiting for their turn.
    queued: AtomicUsize,
    /// When writes through the pool last waited for SQLite's lock.
    pool_waits: Option<&'static PoolWaits>,
    /// Changed only by the holder of the turn.
    group: Mutex<Group>,
    group_ended: tokio::sync::Notify,
}

#[derive(Default)]
struct Group {
    /// The group gathering members, while its transaction is open.
    open: Option<OpenGroup>,
    last_number: u64,
    /// Every group up to this number has ended…
    ended: u64,
    /// …and these of them were rolled back, with the reason…
    failed: VecDeque<(u64, String)>,
    /// …of those up to this number, not all are still there.
    failures_forgotten_up_to: u64,
}

struct OpenGroup {
    number: u64,
    /// When its first member began to wait for the commit.
    waiting_since: Instant,
    /// Members whose savepoint was released: they wait for the group's commit.
    committed: usize,
}

impl Group {
    fn outcome(&self, number: u64) -> Option<Result<(), String>> {
        if self.ended < number {
            return None;
        }
        Some(
            match self.failed.iter().find(|(failed, _)| *failed == number) {
                Some((_, reason)) => Err(reason.clone()),
                None if number <= self.failures_forgotten_up_to => {
                    Err("the outcome of the commit is no longer known".to_owned())
                }
                None => Ok(()),
            },
        )
    }
}

/// A member waiting for its group's commit. When the wait is dropped (the member's
/// client went away), a task sees the group through instead: its transaction must not
/// stay open for want of a member to commit it.
struct GroupWait {
    writer: Arc<SqliteWriter>,
    number: u64,
    ended: bool,
}

impl GroupWait {
    fn new(writer: &Arc<SqliteWriter>, number: u64) -> Self {
        Self {
            writer: writer.clone(),
            number,
            ended: false,
        }
    }

    async fn finish(mut self) -> AppResult<()> {
        let outcome = self.writer.wait_for_group(self.number).await;
        self.ended = true;
        outcome
    }
}

impl Drop for GroupWait {
    fn drop(&mut self) {
        if !self.ended {
            let (writer, number) = (self.writer.clone(), self.number);
            tokio::spawn(async move { writer.wait_for_group(number).await });
        }
    }
}

/// Counts a transaction among those waiting for a turn, until it has one or gives up.
struct Queued<'a>(&'a AtomicUsize);

impl<'a> Queued<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count)
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A transaction of [`Writer`]: rolled back when dropped uncommitted.
pub struct WriteTx<'a> {
    inner: Inner<'a>,
}

enum Inner<'a> {
    Sqlite {
        writer: &'a Arc<SqliteWriter>,
        _turn: tokio::sync::MutexGuard<'a, ()>,
        open: bool,
    },
    Pool(DatabaseTransaction),
    Done,
}

impl Writer {
    /// Writes through `db` itself unless it is SQLite with a file of its own, whose log
    /// is let grow to `log_limit` bytes while writes never pause, and whose pool notes
    /// its writes' waits for the lock in the `PoolWaits` beside it.
    pub fn new(
        db: &DatabaseConnection,
        sqlite_file: Option<(PathBuf, &'static PoolWaits)>,
        log_limit: u64,
    ) -> Self {
        match sqlite_file {
            Some((path, pool_waits)) => Self::Sqlite(Arc::new(SqliteWriter::new(
                path,
                log_limit,
                Some(pool_waits),
            ))),
            None => Self::Pool(db.clone()),
        }
    }

    pub async fn begin(&self) -> AppResult<WriteTx<'_>> {
        match self {
            Self::Pool(db) => Ok(WriteTx {
                inner: Inner::Pool(db.begin().await?),
            }),
            Self::Sqlite(writer) => {
                let queued = Queued::new(&writer.queued);
                let turn = writer.turn.lock().await;
                drop(queued);
                writer.keep_log_under_ceiling().await;
                writer.join_group().await?;
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
    /// The SQLite writer, whose turn a checkpoint takes too.
    pub(super) fn sqlite(&self) -> Option<&Arc<SqliteWriter>> {
        match self {
            Self::Sqlite(writer) => Some(writer),
            Self::Pool(_) => None,
        }
    }
}

impl SqliteWriter {
    fn new(path: PathBuf, log_limit: u64, pool_waits: Option<&'static PoolWaits>) -> Self {
        Self {
            log: log_file(&path),
            path,
            log_limit,
            turn: Arc::new(tokio::sync::Mutex::new(())),
            connection: Mutex::new(None),
            queued: AtomicUsize::new(0),
            pool_waits,
            group: Mutex::new(Group::default()),
            group_ended: tokio::sync::Notify::new(),
        }
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn log_limit(&self) -> u64 {
        self.log_limit
    }

    /// How far the log's file may grow at all; 0 when the log has no limit.
    pub(super) fn log_ceiling(&self) -> u64 {
        self.log_limit.saturating_mul(LOG_CEILING)
    }

    /// With the turn, between groups: when the log has grown past its ceiling (the
    /// checkpoints beside the writes fell behind), copies it and starts it over here, so
    /// the writes wait for it instead of the log growing on. The log's file only ever
    /// grows past the ceiling with the log itself: a log that started over cuts it back.
    async fn keep_log_under_ceiling(self: &Arc<Self>) {
        let ceiling = self.log_ceiling();
        if ceiling == 0 || self.group().open.is_some() {
            return;
        }
        let deadline = Instant::now() + CEILING_PATIENCE;
        while std::fs::metadata(&self.log).is_ok_and(|file| file.len() > ceiling) {
            let writer = self.clone();
            // the copy waits for the disk: off the threads that serve requests
            let started_over = tokio::task::spawn_blocking(move || {
                writer.with_connection(super::checkpoint::start_log_over)
            })
            .await;
            match started_over {
                Ok(Ok(true)) => return,
                Ok(Ok(false)) if Instant::now() < deadline => {
                    // a checkpoint beside the writes, or a reader of the old log, is not
                    // done yet
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Ok(Ok(false)) => return,
                Ok(Err(err)) => {
                    tracing::warn!(error = %err, "starting the SQLite log over failed");
                    return;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "starting the SQLite log over failed");
                    return;
                }
            }
        }
    }

    /// The writers' turn with no group open: a group left open for more members is
    /// committed first. A write transaction that began before a checkpoint keeps reading
    /// the log as it was, and SQLite starts the log over only for one that began after
    /// the log was all copied.
    pub(super) async fn turn_between_groups(&self) -> tokio::sync::MutexGuard<'_, ()> {
        let turn = self.turn.lock().await;
        self.end_group(None);
        turn
    }

    fn group(&self) -> MutexGuard<'_, Group> {
        self.group.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// With the turn: opens a group unless one is open, and a savepoint in it.
    async fn join_group(&self) -> AppResult<()> {
        if self.group().open.is_none() {
            self.let_the_pool_write().await;
            self.begin_immediate().await?;
            let mut group = self.group();
            group.last_number += 1;
            group.open = Some(OpenGroup {
                number: group.last_number,
                waiting_since: Instant::now(),
                committed: 0,
            });
        }
        self.with_connection(|connection| connection.execute_batch("SAVEPOINT member"))
            .map_err(|err| self.fail_group(err))
    }

    /// With the turn: keeps this member's changes in the group. Returns the group to
    /// wait for, or `None` when the group was committed here.
    fn release_member(&self) -> AppResult<Option<u64>> {
        self.end("RELEASE member")
            .map_err(|err| self.fail_group(err))?;
        let mut group = self.group();
        let Some(open) = group.open.as_mut() else {
            return Err(finished());
        };
        if open.committed == 0 {
            open.waiting_since = Instant::now();
        }
        open.committed += 1;
        let number = open.number;
        let keep_open = self.queued.load(Ordering::SeqCst) > 0
            && open.committed < GROUP_MEMBERS
            && open.waiting_since.elapsed() < GROUP_AGE;
        drop(group);
        self.keep_or_commit(number, keep_open)
    }

    /// With the turn: undoes this member's changes; the group goes on for the others.
    /// Returns the group whose commit what this member read depends on, unless it ended.
    fn roll_back_member(&self) -> AppResult<Option<u64>> {
        self.end("ROLLBACK TO member; RELEASE member")
            .map_err(|err| self.fail_group(err))?;
        let Some((number, committed)) = self
            .group()
            .open
            .as_ref()
            .map(|open| (open.number, open.committed))
        else {
            return Ok(None);
        };
        if committed == 0 {
            // nobody else's changes: nothing to keep
            if let Err(err) = self.end("ROLLBACK") {
                tracing::warn!(error = %err, "rolling back a SQLite write failed");
            }
            let mut group = self.group();
            group.open = None;
            group.ended = number;
            return Ok(None);
        }
        self.keep_or_commit(number, self.queued.load(Ordering::SeqCst) > 0)
    }

    /// With the turn: leaves group `number` open for the next member (its members then
    /// wait for it), or commits it here.
    fn keep_or_commit(&self, number: u64, keep_open: bool) -> AppResult<Option<u64>> {
        if keep_open {
            return Ok(Some(number));
        }
        match self.end_group(None) {
            Some(Err(reason)) => Err(group_failed(&reason)),
            _ => Ok(None),
        }
    }

    /// With the turn: a statement of the group's own failed; the whole group fails.
    fn fail_group(&self, err: rusqlite::Error) -> AppError {
        self.end_group(Some(err.to_string()));
        write_failed(err)
    }

    /// With the turn: commits the open group (rolls it back after `failure`) and tells
    /// its members. Returns the group's outcome.
    fn end_group(&self, failure: Option<String>) -> Option<Result<(), String>> {
        let number = self.group().open.as_ref().map(|open| open.number)?;
        let outcome = match failure {
            Some(reason) => Err(reason),
            None => self.end("COMMIT").map_err(|err| err.to_string()),
        };
        if outcome.is_err()
            && !self.in_autocommit()
            && let Err(err) = self.end("ROLLBACK")
        {
            tracing::warn!(error = %err, "rolling back a SQLite write failed");
        }
        let mut group = self.group();
        group.open = None;
        group.ended = number;
        if let Err(reason) = &outcome {
            tracing::warn!(error = %reason, "a group of SQLite writes was rolled back");
            if group.failed.len() == FAILURES_KEPT
                && let Some((forgotten, _)) = group.failed.pop_front()
            {
                group.failures_forgotten_up_to = forgotten;
            }
            group.failed.push_back((number, reason.clone()));
        }
        drop(group);
        self.group_ended.notify_waiters();
        Some(outcome)
    }

    fn in_autocommit(&self) -> bool {
        self.slot()
            .as_ref()
            .is_none_or(|connection| connection.is_autocommit())
    }

    /// Without the turn: waits until group `number` has ended, committing it when its
    /// members have all gone.
    async fn wait_for_group(&self, number: u64) -> AppResult<()> {
        loop {
            let ended = self.group_ended.notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            if let Some(outcome) = self.group().outcome(number) {
                return outcome.map_err(|reason| group_failed(&reason));
            }
            if tokio::time::timeout(GROUP_PATIENCE, ended).await.is_err() {
                let _turn = self.turn.lock().await;
                if self.group().open.as_ref().map(|open| open.number) == Some(number) {
                    self.end_group(None);
                }
            }
        }
    }

    /// Before a group: while a write through the pool waits for SQLite's lock, leaves
    /// the lock free for it, up to `POOL_WRITES_FIRST`; then this group goes first.
    async fn let_the_pool_write(&self) {
        let Some(waits) = self.pool_waits else {
            return;
        };
        let deadline = Instant::now() + POOL_WRITES_FIRST;
        while waits.waiting(POOL_WAITING) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Takes SQLite's write lock, waiting (without blocking the thread) while another
    /// connection holds it.
    async fn begin_immediate(&self) -> AppResult<()> {
        let deadline = Instant::now() + LOCK_PATIENCE;
        loop {
            match self.with_connection(|connection| connection.execute_batch("BEGIN IMMEDIATE")) {
                Ok(()) => return Ok(()),
                // as often as the pool's writes try: neither side waits out the other
                Err(err) if is_busy(&err) && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(1)).await;
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
            None => open(&self.path, self.log_ceiling())?,
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

/// A read-write connection to the file. Its commits never checkpoint by themselves (a
/// commit must not wait for a checkpoint's disk writes: see `super::checkpoint`); the
/// first commit of a log that started over cuts the log's file back to `log_ceiling`
/// bytes if it grew past them (never when 0).
pub(super) fn open(path: &Path, log_ceiling: u64) -> rusqlite::Result<rusqlite::Connection> {
    let connection = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // pragmas are per connection: the same as the pool's
    connection.execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")?;
    connection.execute_batch("PRAGMA wal_autocheckpoint = 0;")?;
    let file_limit = i64::try_from(log_ceiling).unwrap_or(i64::MAX);
    let file_limit = if file_limit == 0 { -1 } else { file_limit };
    connection.execute_batch(&format!("PRAGMA journal_size_limit = {file_limit};"))?;
    // the inner pages of the big indexes (a message's search words land anywhere in
    // them) stay in memory: SQLite's default of 2 MiB re-read them for every write
    connection.execute_batch("PRAGMA cache_size = -16384;")?;
    // each member of a group is a savepoint, whose undo copies would otherwise spill from
    // memory into a temporary file past 64 KiB
    connection.execute_batch("PRAGMA temp_store = MEMORY;")?;
    // waiting for the lock happens in `begin_immediate`, off the thread
    connection.busy_timeout(Duration::ZERO)?;
    connection.set_prepared_statement_cache_capacity(128);
    Ok(connection)
}

/// The log may grow to this many times its limit when checkpoints beside the writes fall
/// behind, as they do while the disk is slow to sync and commits (which do not sync) go
/// on; past it the writes wait for the log to start over, which bounds the log whatever
/// the disk does.
const LOG_CEILING: u64 = 2;

/// How long writes wait, at most, for the log past its ceiling to start over; then one
/// group goes ahead, and the next waits again.
const CEILING_PATIENCE: Duration = Duration::from_secs(1);

/// SQLite's log beside the database file.
fn log_file(path: &Path) -> PathBuf {
    let mut log = path.as_os_str().to_owned();
    log.push("-wal");
    PathBuf::from(log)
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
                let writer = *writer;
                let group = writer.release_member();
                // the turn goes to the next member before this one waits for the commit
                self.inner = Inner::Done;
                match group? {
                    Some(number) => GroupWait::new(writer, number).finish().await,
                    None => Ok(()),
                }
            }
            Inner::Done => Ok(()),
        }
    }

    /// Undoes this transaction's changes, then waits for the commit of the others' that
    /// it may have read.
    pub async fn roll_back(mut self) -> AppResult<()> {
        match std::mem::replace(&mut self.inner, Inner::Done) {
            Inner::Pool(tx) => Ok(tx.rollback().await?),
            Inner::Sqlite { writer, _turn, .. } => {
                let group = writer.roll_back_member();
                drop(_turn);
                match group? {
                    Some(number) => GroupWait::new(writer, number).finish().await,
                    None => Ok(()),
                }
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

/// Where a transaction that ran into a unique conflict reads the row it ran into.
pub enum ConflictView<'a> {
    /// SQLite: the row may belong to this transaction's group, not committed yet, and
    /// only this transaction sees it; [`ConflictView::done`] rolls this transaction
    /// back and waits for the group.
    Group(WriteTx<'a>),
    /// PostgreSQL: the conflict aborted the transaction; the row is committed.
    Committed(&'a Reader),
}

impl WriteTx<'_> {
    pub fn after_conflict<'a>(self, reader: &'a Reader) -> ConflictView<'a>
    where
        Self: 'a,
    {
        match self.inner {
            Inner::Sqlite { .. } => ConflictView::Group(self),
            _ => ConflictView::Committed(reader),
        }
    }
}

impl ConflictView<'_> {
    /// Ends the transaction; an answer built from what was read may go out after this.
    pub async fn done(self) -> AppResult<()> {
        match self {
            Self::Group(tx) => tx.roll_back().await,
            Self::Committed(_) => Ok(()),
        }
    }
}

impl Queries for ConflictView<'_> {
    async fn all<S: QueryStatementWriter + StatementBuilder + Sync>(
        &self,
        statement: &S,
    ) -> AppResult<Vec<Row>> {
        match self {
            Self::Group(tx) => tx.all(statement).await,
            Self::Committed(reader) => reader.all(statement).await,
        }
    }
}

fn group_failed(reason: &str) -> AppError {
    AppError::Internal(anyhow::anyhow!("SQLite commit failed: {reason}"))
}

fn finished() -> AppError {
    AppError::Internal(anyhow::anyhow!("the transaction has ended"))
}

impl Drop for WriteTx<'_> {
    fn drop(&mut self) {
        if let Inner::Sqlite { writer, open, .. } = &self.inner
            && *open
        {
            // a failure is logged, and reaches the group's other members
            let _ = writer.roll_back_member();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use sea_orm::sea_query::{Alias, Expr, Query};

    use super::*;

    fn writer_on_new_file(dir: &tempfile::TempDir) -> Arc<Writer> {
        writer_with_log_limit(dir, 0)
    }

    fn writer_with_log_limit(dir: &tempfile::TempDir, log_limit: u64) -> Arc<Writer> {
        let path = dir.path().join("test.db");
        let connection = rusqlite::Connection::open(&path).expect("opened");
        connection
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 CREATE TABLE parent (id INTEGER PRIMARY KEY);
                 INSERT INTO parent (id) VALUES (1);
                 CREATE TABLE note (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL
                     REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);",
            )
            .expect("schema");
        Arc::new(Writer::Sqlite(Arc::new(SqliteWriter::new(
            path, log_limit, None,
        ))))
    }

    fn insert_note(id: i64, parent_id: i64) -> sea_orm::sea_query::InsertStatement {
        Query::insert()
            .into_table(Alias::new("note"))
            .columns([Alias::new("id"), Alias::new("parent_id")])
            .values_panic([id.into(), parent_id.into()])
            .to_owned()
    }

    fn notes_on_disk(dir: &tempfile::TempDir) -> Vec<i64> {
        let connection = rusqlite::Connection::open(dir.path().join("test.db")).expect("opened");
        let mut statement = connection
            .prepare("SELECT id FROM note ORDER BY id")
            .expect("prepared");
        statement
            .query_map([], |row| row.get(0))
            .expect("read")
            .collect::<Result<_, _>>()
            .expect("rows")
    }

    fn sqlite(writer: &Writer) -> &SqliteWriter {
        match writer {
            Writer::Sqlite(writer) => writer,
            Writer::Pool(_) => unreachable!("a SQLite writer"),
        }
    }

    async fn until_queued(writer: &Writer, count: usize) {
        while sqlite(writer).queued.load(Ordering::SeqCst) < count {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_commits_are_each_on_disk_when_they_return_and_rollbacks_are_not() {
        let dir = tempfile::tempdir().expect("dir");
        let writer = writer_on_new_file(&dir);
        let mut tasks = Vec::new();
        for id in 1..=200i64 {
            let writer = writer.clone();
            let path = dir.path().join("test.db");
            tasks.push(tokio::spawn(async move {
                let tx = writer.begin().await.expect("begun");
                tx.execute(&insert_note(id, 1)).await.expect("inserted");
                if id % 5 == 0 {
                    drop(tx);
                    return;
                }
                tx.commit().await.expect("committed");
                // another connection sees it as soon as the commit returned
                let connection = rusqlite::Connection::open(path).expect("opened");
                let found: i64 = connection
                    .query_row("SELECT count(*) FROM note WHERE id = ?1", [id], |row| {
                        row.get(0)
                    })
                    .expect("read");
                assert_eq!(found, 1, "note {id} committed but not on disk");
            }));
        }
        for task in tasks {
            task.await.expect("task");
        }
        let expected: Vec<i64> = (1..=200).filter(|id| id % 5 != 0).collect();
        assert_eq!(notes_on_disk(&dir), expected);
        assert!(
            sqlite(&writer).group().last_number < 160,
            "no commit was shared: {} groups",
            sqlite(&writer).group().last_number
        );
    }

    /// Bytes of the log after 1,000 commits, with no checkpoints beside them.
    async fn log_after_commits(log_limit: u64) -> u64 {
        let dir = tempfile::tempdir().expect("dir");
        let writer = writer_with_log_limit(&dir, log_limit);
        for id in 1..=1000i64 {
            let tx = writer.begin().await.expect("begun");
            tx.execute(&insert_note(id, 1)).await.expect("inserted");
            tx.commit().await.expect("committed");
        }
        assert_eq!(notes_on_disk(&dir).len(), 1000);
        std::fs::metadata(dir.path().join("test.db-wal"))
            .expect("log")
            .len()
    }

    #[tokio::test]
    async fn past_twice_its_limit_the_writer_starts_the_log_over_itself() {
        // each commit adds at least a page of 4 KiB: ~4 MB without a ceiling
        let unbounded = log_after_commits(0).await;
        assert!(unbounded > 3_000_000, "the log grew to {unbounded} bytes");
        // one commit past the ceiling, then cut back to it
        let bounded = log_after_commits(64 * 1024).await;
        assert!(bounded <= 2 * 64 * 1024, "the log grew to {bounded} bytes");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn when_a_group_fails_to_commit_every_member_is_told_and_nothing_is_kept() {
        let dir = tempfile::tempdir().expect("dir");
        let writer = writer_on_new_file(&dir);
        let first = writer.begin().await.expect("begun");
        let others: Vec<_> = (2..=3i64)
            .map(|id| {
                let writer = writer.clone();
                tokio::spawn(async move {
                    let tx = writer.begin().await?;
                    tx.execute(&insert_note(id, 1)).await?;
                    tx.commit().await
                })
            })
            .collect();
        until_queued(&writer, 2).await;
        // the missing parent is checked at COMMIT only (a deferred key)
        first.execute(&insert_note(1, 99)).await.expect("inserted");
        let outcome = first.commit().await;
        assert!(outcome.is_err(), "the first member was told: {outcome:?}");
        // the next in line joined the failed group; the last one joined it too unless
        // the group was old enough to be committed before its turn
        let mut kept = Vec::new();
        for (id, other) in (2..=3i64).zip(others) {
            if other.await.expect("task").is_ok() {
                kept.push(id);
            }
        }
        assert!(kept.len() < 2, "only the first member failed");
        assert_eq!(notes_on_disk(&dir), kept);

        // the writer goes on
        let tx = writer.begin().await.expect("begun");
        tx.execute(&insert_note(4, 1)).await.expect("inserted");
        tx.commit().await.expect("committed");
        kept.push(4);
        assert_eq!(notes_on_disk(&dir), kept);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_group_is_committed_when_its_members_stop_waiting_for_it() {
        let dir = tempfile::tempdir().expect("dir");
        let writer = writer_on_new_file(&dir);
        let tx = writer.begin().await.expect("begun");
        tx.execute(&insert_note(1, 1)).await.expect("inserted");
        // someone seems to wait for a turn: the group stays open for them
        let queued = Queued::new(&sqlite(&writer).queued);
        let waited = tokio::time::timeout(Duration::from_millis(1), tx.commit()).await;
        assert!(waited.is_err(), "the commit waited for the group");
        // …but never comes, and the member's client went away
        drop(queued);
        let deadline = Instant::now() + Duration::from_secs(5);
        while notes_on_disk(&dir).is_empty() {
            assert!(Instant::now() < deadline, "the group was never committed");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(sqlite(&writer).group().open.is_none());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_member_rolled_back_in_a_group_leaves_the_others_and_waits_for_them() {
        let dir = tempfile::tempdir().expect("dir");
        let writer = writer_on_new_file(&dir);
        let first = writer.begin().await.expect("begun");
        let second = {
            let writer = writer.clone();
            tokio::spawn(async move {
                let tx = writer.begin().await.expect("begun");
                tx.execute(&insert_note(2, 1)).await.expect("inserted");
                // what it read of the first member's row is committed when this returns
                let seen = tx
                    .all(
                        &Query::select()
                            .expr(Expr::col(Alias::new("id")))
                            .from(Alias::new("note"))
                            .to_owned(),
                    )
                    .await
                    .expect("read")
                    .len();
                tx.roll_back().await.expect("rolled back");
                seen
            })
        };
        until_queued(&writer, 1).await;
        first.execute(&insert_note(1, 1)).await.expect("inserted");
        first.commit().await.expect("committed");
        assert_eq!(second.await.expect("task"), 2);
        assert_eq!(notes_on_disk(&dir), vec![1]);
    }
}
