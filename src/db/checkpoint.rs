//! Checkpoints of the SQLite log, off the request path. The writer's connection does not
//! checkpoint by itself (`wal_autocheckpoint = 0`): the commit that crossed SQLite's
//! threshold would otherwise copy the log into the database file and wait for the disk,
//! on a thread that serves requests. A task does it instead, on a blocking thread.
//!
//! A checkpoint that runs while commits keep adding to the log never finds it all
//! copied, and the log starts over only once it was. When writes pause, the next one
//! starts it over; under writes that never pause, the log is let grow up to a limit, and
//! then one checkpoint runs in the writers' turn, between two groups of writes, and starts
//! the log over itself. That one waits for the disk twice (the log, then the database
//! file: milliseconds each on a virtual disk), and every write waits with it; doing it
//! every round made it the slowest part of a busy writer's answers.
//!
//! While the disk is slow to sync, the checkpoints fall behind commits (which do not
//! sync); past twice the limit the writer starts the log over itself between two groups,
//! and the writes wait for it, so the log stays bounded whatever the disk does.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::write::{SqliteWriter, Writer, open};

impl Writer {
    /// Starts checkpointing the SQLite file the writer writes, every `interval`; nothing
    /// for PostgreSQL. Past the writer's log limit the log is made to start over.
    ///
    /// After a checkpoint that finds the whole log copied, the next commit starts the
    /// log over, and that commit waits for the disk (SQLite syncs the log's new header):
    /// checkpoints ten times a second made that wait a part of one write in ten.
    pub fn spawn_checkpoints(&self, interval: Duration) {
        if let Some(writer) = self.sqlite() {
            let log = Log {
                path: writer.path().to_path_buf(),
                interval,
                limit: writer.log_limit(),
                ceiling: writer.log_ceiling(),
            };
            tokio::spawn(keep_checkpointing(log, writer.clone()));
        }
    }
}

struct Log {
    /// The database file.
    path: PathBuf,
    interval: Duration,
    limit: u64,
    /// Past it, the writes start the log over themselves.
    ceiling: u64,
}

async fn keep_checkpointing(log: Log, writer: Arc<SqliteWriter>) {
    let mut ticks = tokio::time::interval(log.interval.max(Duration::from_millis(10)));
    let mut connection = None;
    loop {
        ticks.tick().await;
        // most of the log is copied while commits go on; the turn is then held only to
        // copy the little they added meanwhile
        let mut copied;
        (connection, copied) = pass(connection, &log, Mode::Passive).await;
        if copied.logged > log.limit {
            // each pass copies what came during the one before, so a few of them leave
            // little for the one in the writers' turn, which they all wait for
            for _ in 0..CATCH_UP_PASSES {
                if copied.behind() <= TURN_BEHIND {
                    break;
                }
                (connection, copied) = pass(connection, &log, Mode::Passive).await;
            }
            let _turn = writer.turn_between_groups().await;
            (connection, _) = pass(connection, &log, Mode::Restart).await;
        }
    }
}

#[derive(Clone, Copy)]
enum Mode {
    /// Copies what no reader still needs, beside the writes.
    Passive,
    /// In the writers' turn: copies the rest, waits a little for readers of the old
    /// log to finish, and starts the log over. The file keeps its size (at most the
    /// limit and what one interval adds): emptying it took a stall of its own.
    Restart,
}

impl Mode {
    fn pragma(self) -> &'static str {
        match self {
            Self::Passive => "PRAGMA wal_checkpoint(PASSIVE)",
            Self::Restart => "PRAGMA wal_checkpoint(RESTART)",
        }
    }
}

/// In the writers' turn: copies the whole log into the database and starts it over;
/// false when a checkpoint beside the writes or a reader of the old log was in the way.
///
/// Then writes a page (the file header, unchanged) as the first of the new log: SQLite
/// waits for the disk to hold a new log's header before its first commit, which would
/// otherwise be a request's, on a thread that serves others.
pub(super) fn start_log_over(connection: &rusqlite::Connection) -> rusqlite::Result<bool> {
    let busy: bool = connection.query_row(Mode::Restart.pragma(), [], |row| row.get(0))?;
    if busy {
        return Ok(false);
    }
    let version: i64 = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    connection.execute_batch(&format!("PRAGMA user_version = {version}"))?;
    Ok(true)
}

/// How long the checkpoint in the writers' turn waits for readers of the old log; past
/// it the log starts over at a later one.
const READERS_PATIENCE: Duration = Duration::from_millis(20);

/// Passes without the turn, at most, before the one in it.
const CATCH_UP_PASSES: usize = 4;
/// Bytes the log may hold beyond what is copied when the turn is taken.
const TURN_BEHIND: u64 = 1024 * 1024;

/// What a checkpoint found: bytes in the log since it last started over (the file
/// itself keeps its size), and of them copied into the database.
#[derive(Default, Clone, Copy)]
struct Copied {
    logged: u64,
    copied: u64,
}

impl Copied {
    fn behind(self) -> u64 {
        self.logged.saturating_sub(self.copied)
    }
}

/// One checkpoint, on a blocking thread; the connection to keep for the next.
async fn pass(
    kept: Option<rusqlite::Connection>,
    log: &Log,
    mode: Mode,
) -> (Option<rusqlite::Connection>, Copied) {
    let (file, ceiling) = (log.path.clone(), log.ceiling);
    match tokio::task::spawn_blocking(move || checkpoint(kept, &file, ceiling, mode)).await {
        Ok(Ok((done, copied))) => (Some(done), copied),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "SQLite checkpoint failed");
            (None, Copied::default())
        }
        Err(err) => {
            tracing::warn!(error = %err, "SQLite checkpoint task failed");
            (None, Copied::default())
        }
    }
}

/// One checkpoint in `mode` on `kept` (or a new connection), and what it found.
fn checkpoint(
    kept: Option<rusqlite::Connection>,
    path: &Path,
    ceiling: u64,
    mode: Mode,
) -> rusqlite::Result<(rusqlite::Connection, Copied)> {
    let connection = match kept {
        Some(connection) => connection,
        None => {
            let connection = open(path, ceiling)?;
            connection.busy_timeout(READERS_PATIENCE)?;
            connection
        }
    };
    if matches!(mode, Mode::Restart) {
        start_log_over(&connection)?;
        return Ok((connection, Copied::default()));
    }
    let (logged, copied): (i64, i64) =
        connection.query_row(mode.pragma(), [], |row| Ok((row.get(1)?, row.get(2)?)))?;
    let page_size: i64 = connection.query_row("PRAGMA page_size", [], |row| row.get(0))?;
    let bytes = |frames: i64| u64::try_from(frames.saturating_mul(page_size)).unwrap_or(0);
    Ok((
        connection,
        Copied {
            logged: bytes(logged),
            copied: bytes(copied),
        },
    ))
}
