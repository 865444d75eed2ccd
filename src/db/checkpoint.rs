//! Checkpoints of the SQLite log, off the request path. The writer's connection does not
//! checkpoint by itself (`wal_autocheckpoint = 0`): the commit that crossed SQLite's
//! threshold would otherwise copy the log into the database file and wait for the disk,
//! on a thread that serves requests. A task does it instead, on a blocking thread.
//!
//! A checkpoint that runs while commits keep adding to the log never finds it all
//! copied, and the log starts over only once it was. When writes pause, the next one
//! starts it over; under writes that never pause, the log is let grow up to a limit, and
//! then one checkpoint runs in the writers' turn. That one waits for the disk twice
//! (the log, then the database file: milliseconds each on a virtual disk), and every write waits
//! with it; doing it every round made it the slowest part of a busy writer's answers.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::write::{Writer, open};

/// How often the log is copied into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

impl Writer {
    /// Starts checkpointing the SQLite file the writer writes; nothing for PostgreSQL.
    /// Past `log_limit` bytes the log is made to start over.
    pub fn spawn_checkpoints(&self, log_limit: u64) {
        if let Some((path, turn)) = self.sqlite_turn() {
            tokio::spawn(keep_checkpointing(path.to_path_buf(), turn, log_limit));
        }
    }
}

async fn keep_checkpointing(path: PathBuf, turn: Arc<tokio::sync::Mutex<()>>, log_limit: u64) {
    let mut ticks = tokio::time::interval(CHECKPOINT_EVERY);
    let log = log_of(&path);
    let mut connection = None;
    loop {
        ticks.tick().await;
        // most of the log is copied while commits go on; the turn is then held only to
        // copy the little they added meanwhile
        connection = pass(connection, &path).await;
        let size = tokio::fs::metadata(&log).await.map_or(0, |meta| meta.len());
        if size > log_limit {
            let _turn = turn.lock().await;
            connection = pass(connection, &path).await;
        }
    }
}

/// SQLite names the log after the database file: `vitrine.db` logs to `vitrine.db-wal`.
fn log_of(path: &Path) -> PathBuf {
    let mut log = path.as_os_str().to_owned();
    log.push("-wal");
    PathBuf::from(log)
}

async fn pass(kept: Option<rusqlite::Connection>, path: &Path) -> Option<rusqlite::Connection> {
    let file = path.to_path_buf();
    match tokio::task::spawn_blocking(move || checkpoint(kept, &file)).await {
        Ok(Ok(done)) => Some(done),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "SQLite checkpoint failed");
            None
        }
        Err(err) => {
            tracing::warn!(error = %err, "SQLite checkpoint task failed");
            None
        }
    }
}

/// A passive checkpoint: it copies what no reader still needs; with no commit under way
/// the next write starts the log over.
fn checkpoint(
    kept: Option<rusqlite::Connection>,
    path: &Path,
) -> rusqlite::Result<rusqlite::Connection> {
    let connection = match kept {
        Some(connection) => connection,
        None => open(path)?,
    };
    connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
    Ok(connection)
}
