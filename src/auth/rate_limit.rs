//! Fixed-window counters for login attempts: in this process, or in Redis so that every
//! instance shares them.

use std::time::{Duration, Instant};

use dashmap::DashMap;
use redis::aio::ConnectionManager;

use crate::error::{AppError, AppResult};

/// Counts a hit and returns `[count, milliseconds left in the window]`.
const REDIS_HIT_SCRIPT: &str = r"
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {count, ttl}
";

/// Beyond this many tracked keys, expired windows are swept before adding one.
const SWEEP_THRESHOLD: usize = 10_000;

// one per process: the size of the larger variant does not matter
#[allow(clippy::large_enum_variant)]
pub enum RateLimiter {
    InProcess(DashMap<String, Window>),
    Redis {
        connection: ConnectionManager,
        prefix: String,
        script: redis::Script,
    },
}

#[derive(Debug, Clone, Copy)]
pub struct Window {
    started: Instant,
    count: u32,
}

impl RateLimiter {
    pub fn in_process() -> Self {
        Self::InProcess(DashMap::new())
    }

    pub fn redis(connection: ConnectionManager, prefix: &str) -> Self {
        Self::Redis {
            connection,
            prefix: format!("{prefix}:ratelimit:"),
            script: redis::Script::new(REDIS_HIT_SCRIPT),
        }
    }

    /// Counts one attempt under `key`; past `limit` in the window it answers 429.
    pub async fn hit(&self, key: &str, limit: u32, window: Duration) -> AppResult<()> {
        let (count, remaining) = match self {
            Self::InProcess(windows) => {
                if windows.len() > SWEEP_THRESHOLD {
                    windows.retain(|_, entry| entry.started.elapsed() < window);
                }
                let now = Instant::now();
                let mut entry = windows.entry(key.to_owned()).or_insert(Window {
                    started: now,
                    count: 0,
                });
                if now.duration_since(entry.started) >= window {
                    *entry = Window {
                        started: now,
                        count: 0,
                    };
                }
                entry.count = entry.count.saturating_add(1);
                (
                    entry.count,
                    window.saturating_sub(now.duration_since(entry.started)),
                )
            }
            Self::Redis {
                connection,
                prefix,
                script,
            } => {
                let mut connection = connection.clone();
                let (count, ttl_ms): (u32, i64) = script
                    .key(format!("{prefix}{key}"))
                    .arg(window.as_millis() as u64)
                    .invoke_async(&mut connection)
                    .await
                    .map_err(AppError::internal)?;
                (count, Duration::from_millis(ttl_ms.max(0) as u64))
            }
        };
        if count > limit {
            let retry_after_secs = remaining.as_secs() + u64::from(remaining.subsec_nanos() > 0);
            return Err(AppError::RateLimited {
                retry_after_secs: retry_after_secs.max(1),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn in_process_limit_and_reset() {
        let limiter = RateLimiter::in_process();
        let window = Duration::from_millis(200);
        for _ in 0..3 {
            limiter.hit("ip:1", 3, window).await.unwrap();
        }
        match limiter.hit("ip:1", 3, window).await {
            Err(AppError::RateLimited { retry_after_secs }) => assert_eq!(retry_after_secs, 1),
            other => panic!("expected a rate limit, got {other:?}"),
        }
        // other keys are counted apart
        limiter.hit("ip:2", 3, window).await.unwrap();
        tokio::time::sleep(window).await;
        limiter.hit("ip:1", 3, window).await.unwrap();
    }
}
