//! The janitor removes what crashes leave behind and what has expired: at start-up, once
//! more when the grace period has passed, then every `VITRINE_JANITOR_INTERVAL_SECS`.
//!
//! - staging files of local uploads that never finished (`staging`),
//! - S3 multipart uploads whose writer died, found by their markers (`storage::uploads`),
//! - blobs no live file row points to, and photos whose in-place replacement never
//!   committed (`orphans`),
//! - photos of drafts that went with their target watch or author
//!   (`catalog::drafts::photos`),
//! - expired tokens and sessions without any (`accounts`).
//!
//! Nothing in storage is touched before it has been left alone for the grace period
//! (`VITRINE_JANITOR_GRACE_SECS`, by default the upload idle timeout, after which a live
//! upload would have been ended anyway); uploads this process is writing are never touched.

mod accounts;
mod orphans;
mod staging;

use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::task::JoinHandle;

use crate::state::AppState;

/// What one run removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    pub staging_files: u64,
    pub staging_bytes: u64,
    pub uploads_aborted: u64,
    pub orphans_removed: u64,
    pub orphan_bytes: u64,
    pub photos_restored: u64,
    /// Photos of drafts that no longer exist, retired with their blobs.
    pub draft_photos_removed: u64,
    /// Blobs without a row seen for the first time: removed next run if still so.
    pub orphans_suspected: u64,
    pub tokens_deleted: u64,
    pub sessions_deleted: u64,
    /// Steps that failed (and were logged); the others still ran.
    pub failures: u64,
}

impl Report {
    fn failed(&mut self, step: &str, error: &dyn std::fmt::Display) {
        self.failures += 1;
        tracing::warn!(step, error = %error, "a janitor step failed");
    }
}

/// Runs the janitor in the background until the returned task is aborted; `None` when
/// the interval is 0.
pub fn spawn(state: AppState) -> Option<JoinHandle<()>> {
    let interval = Duration::from_secs(state.config.janitor_interval_secs);
    if interval.is_zero() {
        return None;
    }
    Some(tokio::spawn(async move {
        let grace = state.config.janitor_grace();
        let mut janitor = Janitor::new(state);
        janitor.run_once().await;
        // what a crash just before this start left is not stale yet at the first run;
        // a second run once it is keeps that from waiting a whole interval
        if grace < interval {
            tokio::time::sleep(grace + Duration::from_secs(1)).await;
            janitor.run_once().await;
        }
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            janitor.run_once().await;
        }
    }))
}

/// The janitor with what it remembers between runs.
pub struct Janitor {
    state: AppState,
    suspects: orphans::Suspects,
}

impl Janitor {
    pub fn new(state: AppState) -> Self {
        Self {
            state,
            suspects: orphans::Suspects::default(),
        }
    }

    /// One pass over everything; logs one line and records metrics.
    pub async fn run_once(&mut self) -> Report {
        let started = Instant::now();
        let state = &self.state;
        let grace = state.config.janitor_grace();
        let stale_before = Utc::now() - chrono::Duration::from_std(grace).unwrap_or_default();
        let mut report = Report::default();

        match staging::remove_stale_staging_files(&state.storage, grace).await {
            Ok(removed) => {
                report.staging_files = removed.files;
                report.staging_bytes = removed.bytes;
            }
            Err(err) => report.failed("staging files", &err),
        }
        match state.storage.abandoned_uploads(stale_before).await {
            Ok(abandoned) => {
                for (marker_path, marker) in abandoned {
                    match state.storage.abort_abandoned(&marker_path, &marker).await {
                        Ok(()) => report.uploads_aborted += 1,
                        Err(err) => report.failed("aborting an upload", &err),
                    }
                }
            }
            Err(err) => report.failed("unfinished uploads", &err),
        }
        match crate::catalog::drafts::photos::remove_orphans(state).await {
            Ok(removed) => report.draft_photos_removed = removed,
            Err(err) => report.failed("draft photos", &err),
        }
        match orphans::sweep(&state.db, &state.storage, &mut self.suspects, stale_before).await {
            Ok(swept) => {
                report.orphans_removed = swept.removed;
                report.orphan_bytes = swept.removed_bytes;
                report.photos_restored = swept.photos_restored;
                report.orphans_suspected = swept.suspected;
            }
            Err(err) => report.failed("orphaned blobs", &err),
        }
        match accounts::delete_expired_tokens(&state.db).await {
            Ok(deleted) => report.tokens_deleted = deleted,
            Err(err) => report.failed("expired tokens", &err),
        }
        let recent = chrono::Duration::seconds(state.config.access_token_ttl_secs as i64);
        match accounts::delete_dead_sessions(&state.db, recent).await {
            Ok(deleted) => report.sessions_deleted = deleted,
            Err(err) => report.failed("dead sessions", &err),
        }
        record(&report, started.elapsed());
        report
    }
}

/// One log line and the metrics of a run.
fn record(report: &Report, took: Duration) {
    metrics::counter!("janitor_runs_total").increment(1);
    metrics::histogram!("janitor_run_duration_seconds").record(took.as_secs_f64());
    for (kind, count) in [
        ("staging_file", report.staging_files),
        ("unfinished_upload", report.uploads_aborted),
        ("orphaned_blob", report.orphans_removed),
        ("draft_photo", report.draft_photos_removed),
        ("expired_token", report.tokens_deleted),
        ("dead_session", report.sessions_deleted),
    ] {
        metrics::counter!("janitor_removed_total", "kind" => kind).increment(count);
    }
    metrics::counter!("janitor_photos_restored_total").increment(report.photos_restored);
    metrics::counter!("janitor_failures_total").increment(report.failures);
    tracing::info!(
        took_ms = took.as_millis() as u64,
        staging_files = report.staging_files,
        staging_bytes = report.staging_bytes,
        uploads_aborted = report.uploads_aborted,
        orphans_removed = report.orphans_removed,
        orphan_bytes = report.orphan_bytes,
        orphans_suspected = report.orphans_suspected,
        photos_restored = report.photos_restored,
        draft_photos_removed = report.draft_photos_removed,
        tokens_deleted = report.tokens_deleted,
        sessions_deleted = report.sessions_deleted,
        failures = report.failures,
        "janitor run"
    );
}
