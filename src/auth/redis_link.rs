//! The Redis connection behind session checks and rate limits. Every call is bounded in
//! time: a Redis that is down or slow makes the request answer 503 `unavailable` at once
//! instead of hanging, and the connection is re-established on the next call after it
//! comes back.

use std::future::Future;
use std::time::Duration;

use anyhow::Context;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::error::{AppError, AppResult};

#[derive(Clone)]
pub struct RedisLink {
    connection: ConnectionManager,
    timeout: Duration,
}

impl RedisLink {
    /// Connects, waiting up to `startup_patience` for a Redis that is still starting.
    pub async fn connect(
        url: &str,
        timeout: Duration,
        startup_patience: Duration,
    ) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).context("REDIS_URL is invalid")?;
        // One attempt per reconnection: the default retries back off exponentially from
        // 1 s up to a minute, and every command waits for them, so a Redis that came back
        // stayed unused for that long. A failed attempt makes the next call try again.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(timeout)
            .set_response_timeout(timeout)
            .set_number_of_retries(0);
        let deadline = tokio::time::Instant::now() + startup_patience;
        loop {
            match ConnectionManager::new_with_config(client.clone(), config.clone()).await {
                Ok(connection) => {
                    return Ok(Self {
                        connection,
                        timeout,
                    });
                }
                Err(err) if tokio::time::Instant::now() < deadline => {
                    tracing::warn!(error = %err, "Redis not reachable yet; retrying");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(err) => return Err(err).context("connecting to Redis"),
            }
        }
    }

    /// Runs one Redis call on the shared connection, within the time limit.
    pub async fn call<T, F, Fut>(&self, call: F) -> AppResult<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        match tokio::time::timeout(self.timeout, call(self.connection.clone())).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "Redis call failed");
                Err(unavailable())
            }
            Err(_) => {
                tracing::warn!(
                    timeout_ms = self.timeout.as_millis(),
                    "Redis call timed out"
                );
                Err(unavailable())
            }
        }
    }

    /// A round trip, for `/readyz`.
    pub async fn ping(&self) -> AppResult<()> {
        self.call(|mut connection| async move {
            redis::cmd("PING")
                .query_async::<String>(&mut connection)
                .await
                .map(drop)
        })
        .await
    }
}

fn unavailable() -> AppError {
    AppError::unavailable("Redis is unreachable; retry shortly")
}
