//! Writes through the pool and the writer's take turns on SQLite's one write lock.
//!
//! A write through the pool that finds the lock taken waits in SQLite's busy handler.
//! SQLite's own handler sleeps ever longer between tries (up to 100 ms), while the
//! writer, committing group after group under a stream of messages, takes the lock again
//! within microseconds: a profile edit then waited up to seconds for a gap. Here the
//! pool's connections try again every millisecond and note when they last waited, and
//! the writer leaves the lock free before its next group while one of them is waiting.

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rusqlite::ffi;
use sea_orm::sqlx::sqlite::SqliteConnection;

/// How often a write through the pool tries the lock again.
const RETRY_EVERY: Duration = Duration::from_millis(1);
/// Tries before a write through the pool gives up (SQLITE_BUSY, answered 503): about the
/// five seconds of the pool's busy timeout.
const MOST_TRIES: c_int = 5_000;

/// When a write through the pool last waited for the lock.
pub struct PoolWaits {
    since: Instant,
    /// Nanoseconds after `since`; 0 for never.
    last_wait: AtomicU64,
}

impl PoolWaits {
    /// One for a pool, kept for the rest of the process: SQLite's busy handler holds a
    /// plain pointer to it, which no connection may outlive.
    pub fn for_the_process() -> &'static Self {
        Box::leak(Box::new(Self {
            since: Instant::now(),
            last_wait: AtomicU64::new(0),
        }))
    }

    fn note_wait(&self) {
        let nanos = u64::try_from(self.since.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.last_wait.store(nanos.max(1), Ordering::Relaxed);
    }

    /// Whether a write through the pool waited for the lock within `recently`.
    pub fn waiting(&self, recently: Duration) -> bool {
        let last = self.last_wait.load(Ordering::Relaxed);
        let now = u64::try_from(self.since.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let recently = u64::try_from(recently.as_nanos()).unwrap_or(u64::MAX);
        last != 0 && now.saturating_sub(last) <= recently
    }

    /// Gives a pool connection the busy handler that notes its waits here.
    pub async fn watch(
        &'static self,
        connection: &mut SqliteConnection,
    ) -> Result<(), sea_orm::sqlx::Error> {
        let mut handle = connection.lock_handle().await?;
        let db = handle.as_raw_handle().as_ptr();
        let waits = std::ptr::from_ref(self).cast_mut().cast::<c_void>();
        // SAFETY: `db` is this open connection's handle, held locked for the call, and
        // `waits` points to a `PoolWaits` that is never freed.
        let code = unsafe { ffi::sqlite3_busy_handler(db, Some(wait_for_the_lock), waits) };
        if code == ffi::SQLITE_OK {
            Ok(())
        } else {
            Err(sea_orm::sqlx::Error::Protocol(format!(
                "setting SQLite's busy handler failed ({code})"
            )))
        }
    }
}

/// SQLite's busy handler of the pool's connections: 0 gives up, anything else tries again.
extern "C" fn wait_for_the_lock(waits: *mut c_void, tries: c_int) -> c_int {
    if tries >= MOST_TRIES {
        return 0;
    }
    // SAFETY: the pointer `PoolWaits::watch` gave SQLite, to a `PoolWaits` never freed.
    let waits = unsafe { &*waits.cast_const().cast::<PoolWaits>() };
    waits.note_wait();
    std::thread::sleep(RETRY_EVERY);
    1
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    use sea_orm::{ConnectionTrait, Statement};

    use super::*;
    use crate::config::Config;
    use crate::db::write::Writer;

    fn insert_note(by: &str) -> sea_orm::sea_query::InsertStatement {
        sea_orm::sea_query::Query::insert()
            .into_table(sea_orm::sea_query::Alias::new("note"))
            .columns([sea_orm::sea_query::Alias::new("by")])
            .values_panic([by.into()])
            .to_owned()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_through_the_pool_wait_in_their_handler_and_get_their_turn() {
        let dir = tempfile::tempdir().expect("dir");
        let config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        let waits = PoolWaits::for_the_process();
        let pool = crate::db::connect_beside_writer(&config, waits)
            .await
            .expect("pool");
        let file = crate::db::sqlite_file(&config).expect("a SQLite file");
        pool.execute_unprepared("CREATE TABLE note (id INTEGER PRIMARY KEY, by TEXT NOT NULL)")
            .await
            .expect("schema");
        let writer = Arc::new(Writer::new(&pool, Some((file, waits)), 0));
        let pool_insert = |pool: sea_orm::DatabaseConnection| async move {
            pool.execute(Statement::from_string(
                pool.get_database_backend(),
                "INSERT INTO note (by) VALUES ('pool')",
            ))
            .await
        };

        // the writer holds SQLite's lock: the pool's write waits in the handler
        let held = writer.begin().await.expect("begun");
        held.execute(&insert_note("writer"))
            .await
            .expect("inserted");
        let waiting = tokio::spawn(pool_insert(pool.clone()));
        let deadline = Instant::now() + Duration::from_secs(30);
        while !waits.waiting(Duration::from_secs(3600)) {
            assert!(Instant::now() < deadline, "the pool's write never waited");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        held.commit().await.expect("committed");
        waiting
            .await
            .expect("task")
            .expect("the pool's write went in after the writer's");

        // the messenger's side: one transaction after another, never a pause
        let stop = Arc::new(AtomicBool::new(false));
        let stream = {
            let (writer, stop) = (writer.clone(), stop.clone());
            tokio::spawn(async move {
                let mut commits = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    let tx = writer.begin().await.expect("begun");
                    tx.execute(&insert_note("writer")).await.expect("inserted");
                    tx.commit().await.expect("committed");
                    commits += 1;
                }
                commits
            })
        };
        for _ in 0..20 {
            pool_insert(pool.clone())
                .await
                .expect("a write through the pool gets its turn");
        }
        stop.store(true, Ordering::Relaxed);
        assert!(stream.await.expect("the writer's task") > 0);
        let row = pool
            .query_one(Statement::from_string(
                pool.get_database_backend(),
                "SELECT count(*) AS n FROM note WHERE by = 'pool'",
            ))
            .await
            .expect("read")
            .expect("a row");
        assert_eq!(row.try_get::<i64>("", "n").expect("n"), 21);
    }

    #[test]
    fn a_wait_counts_as_recent_for_a_while_only() {
        let waits = PoolWaits::for_the_process();
        assert!(!waits.waiting(Duration::from_secs(60)), "nobody waited yet");
        waits.note_wait();
        assert!(waits.waiting(Duration::from_secs(60)));
        std::thread::sleep(Duration::from_millis(20));
        assert!(!waits.waiting(Duration::from_millis(5)));
    }
}
