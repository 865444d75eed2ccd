//! Checkpoints of the SQLite log, off the request path. The writer's connection does not
//! checkpoint by itself (`wal_autocheckpoint = 0`): the commit that crossed SQLite's
//! threshold would otherwise copy the log into the database file and wait for the disk,
//! on a thread that serves requests. A task does it instead, on a blocking thread, and
//! ends each round in the writers' turn: a checkpoint that runs while commits keep adding
//! to the log never finds it all copied, so the log would never start over and would
//! grow without end.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::write::{Writer, open};

/// How often the log is copied into the database file. Between two checkpoints the log
/// grows by what was written meanwhile; after one it is reused from its start.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

impl Writer {
    /// Starts checkpointing the SQLite file the writer writes; nothing for PostgreSQL.
    pub fn spawn_checkpoints(&self) {
        if let Some((path, turn)) = self.sqlite_turn() {
            tokio::spawn(keep_checkpointing(path.to_path_buf(), turn));
        }
    }
}

async fn keep_checkpointing(path: PathBuf, turn: Arc<tokio::sync::Mutex<()>>) {
    let mut ticks = tokio::time::interval(CHECKPOINT_EVERY);
    let mut connection = None;
    loop {
        ticks.tick().await;
        // most of the log is copied while commits go on; the turn is then held only to
        // copy the little they added meanwhile, so the log can start over
        connection = pass(connection, &path).await;
        let _turn = turn.lock().await;
        connection = pass(connection, &path).await;
    }
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
