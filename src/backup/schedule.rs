//! Backups the server takes by itself every `VITRINE_BACKUP_EVERY`, into folders
//! `vitrine-{UTC time}` under `VITRINE_BACKUP_TO`, keeping the `VITRINE_BACKUP_KEEP`
//! newest. One log line (`backup run`) and the `backup_*` metrics per run.

use std::time::{Duration, Instant};

use chrono::{NaiveDateTime, Utc};
use tokio::task::JoinHandle;

use super::location::Location;
use super::manifest::MANIFEST;
use super::take::{Written, backup};
use crate::state::AppState;

const FOLDER_PREFIX: &str = "vitrine-";
const FOLDER_TIME: &str = "%Y%m%dT%H%M%S%.3fZ";

/// Runs scheduled backups until the task is aborted; `None` when they are off.
pub fn spawn(state: AppState) -> Option<JoinHandle<()>> {
    let every = state.config.backup_interval().ok().flatten()?;
    let root = match Location::parse(&state.config.backup_to, &state.config.s3) {
        Ok(root) => root,
        Err(err) => {
            tracing::error!(error = %err, "VITRINE_BACKUP_TO is unusable; no scheduled backups");
            return None;
        }
    };
    Some(tokio::spawn(async move {
        // a restart does not put the next backup off by a whole period
        let mut due = Instant::now() + until_due(&root, every).await;
        loop {
            tokio::time::sleep_until(due.into()).await;
            // logged and counted by run_once
            run_once(&state, &root).await.ok();
            due = Instant::now() + every;
        }
    }))
}

/// How long until a backup is due, from the newest one under `root`.
async fn until_due(root: &Location, every: Duration) -> Duration {
    let newest = match root.folders().await {
        Ok(folders) => folders.iter().rev().find_map(|name| folder_time(name)),
        Err(err) => {
            tracing::warn!(error = %err, location = %root, "could not list earlier backups");
            None
        }
    };
    let Some(newest) = newest else {
        return every;
    };
    let age = (Utc::now().naive_utc() - newest)
        .to_std()
        .unwrap_or_default();
    every.saturating_sub(age)
}

fn folder_time(name: &str) -> Option<NaiveDateTime> {
    let time = name.strip_prefix(FOLDER_PREFIX)?;
    NaiveDateTime::parse_from_str(time, FOLDER_TIME).ok()
}

/// Takes one backup into a new folder under `root` and deletes the oldest beyond the
/// number kept; logs and records the outcome.
pub async fn run_once(state: &AppState, root: &Location) -> anyhow::Result<Written> {
    let started = Instant::now();
    let name = format!("{FOLDER_PREFIX}{}", Utc::now().format(FOLDER_TIME));
    let dest = root.child(&name);
    let result = backup(&state.db, &state.storage, &state.config, &dest).await;
    let took = started.elapsed();
    metrics::histogram!("backup_duration_seconds").record(took.as_secs_f64());
    match &result {
        Ok(written) => {
            let outcome = if written.damaged.is_empty() {
                "ok"
            } else {
                "damaged"
            };
            let removed = match prune(root, state.config.backup_keep).await {
                Ok(removed) => removed,
                Err(err) => {
                    tracing::warn!(error = %err, "could not delete old backups");
                    0
                }
            };
            metrics::counter!("backup_runs_total", "outcome" => outcome).increment(1);
            metrics::gauge!("backup_bytes").set(written.bytes as f64);
            metrics::gauge!("backup_last_success_timestamp_seconds")
                .set(Utc::now().timestamp() as f64);
            tracing::info!(
                location = %dest,
                took_ms = took.as_millis() as u64,
                bytes = written.bytes,
                files = written.manifest.files.len(),
                damaged = written.damaged.len(),
                old_backups_removed = removed,
                outcome,
                "backup run"
            );
        }
        Err(err) => {
            metrics::counter!("backup_runs_total", "outcome" => "failed").increment(1);
            tracing::error!(location = %dest, took_ms = took.as_millis() as u64, error = format!("{err:#}"), outcome = "failed", "backup run");
            if let Err(err) = dest.remove_all().await {
                tracing::warn!(error = %err, location = %dest, "could not remove an unfinished backup");
            }
        }
    }
    result
}

/// Deletes every backup folder but the `keep` newest finished ones; returns how many.
async fn prune(root: &Location, keep: usize) -> anyhow::Result<usize> {
    let mut finished = Vec::new();
    for name in root.folders().await? {
        if folder_time(&name).is_some() && root.child(&name).exists(MANIFEST).await? {
            finished.push(name);
        }
    }
    let excess = finished.len().saturating_sub(keep);
    for name in &finished[..excess] {
        root.child(name).remove_all().await?;
    }
    Ok(excess)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_carry_their_time() {
        let name = format!("{FOLDER_PREFIX}20261202T030405.123Z");
        let time = folder_time(&name).unwrap();
        assert_eq!(time.to_string(), "2026-12-02 03:04:05.123");
        assert!(folder_time("vitrine-latest").is_none());
        assert!(folder_time("other-20261202T030405Z").is_none());
    }
}
