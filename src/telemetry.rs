//! Logging (stdout, rolling files, `error.log`), the per-request log line and metrics.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, fmt};

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Keeps the background log writers alive; drop it last.
pub struct LogGuards(#[allow(dead_code)] Vec<WorkerGuard>);

/// Logs to stdout, to `vitrine.log.YYYY-MM-DD` (JSON, daily) and errors to `error.log`.
pub fn init(log_dir: &Path, filter: &str) -> anyhow::Result<LogGuards> {
    std::fs::create_dir_all(log_dir).with_context(|| format!("creating {}", log_dir.display()))?;
    let all = RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix("vitrine.log")
        .max_log_files(14)
        .build(log_dir)
        .context("opening the rolling log file")?;
    let errors = tracing_appender::rolling::never(log_dir, "error.log");
    let (all_writer, all_guard) = log_writer(all);
    let (error_writer, error_guard) = log_writer(errors);

    // the console gets its lines from a thread of its own too: a slow terminal or a full
    // pipe holds up no request; colours only on a terminal, not in a journal or a file
    let console_colours = std::io::stdout().is_terminal();
    let (console_writer, console_guard) = log_writer(std::io::stdout());

    let env_filter =
        EnvFilter::try_new(filter).context("VITRINE_LOG_LEVEL is not a valid filter")?;
    tracing_subscriber::registry()
        .with(
            fmt::layer()
                .with_target(false)
                .with_ansi(console_colours)
                .with_writer(console_writer)
                .with_filter(env_filter),
        )
        .with(
            fmt::layer()
                .json()
                .with_writer(all_writer)
                .with_filter(EnvFilter::try_new(filter).context("log filter")?),
        )
        .with(
            fmt::layer()
                .json()
                .with_writer(error_writer)
                .with_filter(LevelFilter::ERROR),
        )
        .try_init()
        .context("installing the log subscriber")?;
    Ok(LogGuards(vec![console_guard, all_guard, error_guard]))
}

/// Lines a log writer holds for its thread at most (a few MiB); past it, new lines are
/// dropped instead of holding up requests or taking more memory.
const BUFFERED_LOG_LINES: usize = 8192;

/// A writer of log lines on a thread of its own, which writes the lines waiting for it
/// in one system call and flushes whenever it has caught up.
fn log_writer(
    destination: impl std::io::Write + Send + 'static,
) -> (tracing_appender::non_blocking::NonBlocking, WorkerGuard) {
    tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(BUFFERED_LOG_LINES)
        .finish(std::io::BufWriter::with_capacity(64 * 1024, destination))
}

/// The process-wide Prometheus recorder (installed once, shared by every app instance).
pub fn metrics_handle() -> anyhow::Result<PrometheusHandle> {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    // apps starting at the same moment (tests in one process) install it one at a time
    static INSTALLING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let _installing = INSTALLING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let recorder = PrometheusBuilder::new()
        .set_buckets(&[
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
        ])
        .context("histogram buckets")?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder)
        .map_err(|_| anyhow::anyhow!("another metrics recorder is installed"))?;
    keep_up(handle.clone())?;
    Ok(HANDLE.get_or_init(|| handle).clone())
}

/// How often recorded histogram samples are folded into their buckets.
const METRICS_UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Folds the recorded samples into their buckets every few seconds, for as long as the
/// process runs. The recorder keeps every histogram sample until then, and only a scrape
/// of /metrics did it: a server nobody scraped grew by the samples of every request.
fn keep_up(handle: PrometheusHandle) -> anyhow::Result<()> {
    std::thread::Builder::new()
        .name("metrics-upkeep".to_owned())
        .spawn(move || {
            loop {
                std::thread::sleep(METRICS_UPKEEP_EVERY);
                handle.run_upkeep();
            }
        })
        .context("starting the metrics upkeep thread")?;
    Ok(())
}

/// The method as a metrics label: clients may send any token as a method, and each
/// distinct label would be a series kept for the life of the process.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// One log line and one metrics sample per request.
pub async fn record_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let request_id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let response = next.run(request).await;
    let latency = started.elapsed();
    let status = response.status().as_u16();
    let latency_ms = latency.as_secs_f64() * 1000.0;
    if status >= 500 {
        tracing::error!(method = %method, route, status, latency_ms, request_id, "request");
    } else {
        tracing::info!(method = %method, route, status, latency_ms, request_id, "request");
    }
    let labels = [
        ("method", method_label(&method).to_owned()),
        ("route", route),
        ("status", status.to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels).record(latency.as_secs_f64());
    response
}
