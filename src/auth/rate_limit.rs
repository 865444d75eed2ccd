//! Fixed-window counters for login attempts: in this process, or in Redis so that every
//! instance shares them.
//!
//! Keys come from clients (an address, a login name), so the in-process table is bounded:
//! long keys are stored as their digest, expired windows are swept, and past a hard cap a
//! key not yet tracked is refused (429) until windows expire, rather than evicting
//! counters an attacker would like to reset. With Redis, a Redis that does not answer
//! fails closed: the attempt is answered 503 rather than let through uncounted.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use dashmap::DashMap;

use super::redis_link::RedisLink;
use super::tokens::hash_opaque_token;
use crate::error::{AppError, AppResult};

/// Counts a hit and returns `[count, milliseconds left in the window]`.
const REDIS_HIT_SCRIPT: &str = r"
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {count, ttl}
";

/// Keys longer than this are stored as their SHA-256 digest.
const MAX_STORED_KEY_BYTES: usize = 96;

/// Expired windows are swept at most this often (a sweep visits every window).
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

// one per process: the size of the larger variant does not matter
#[allow(clippy::large_enum_variant)]
pub enum RateLimiter {
    InProcess(InProcessWindows),
    Redis {
        link: RedisLink,
        prefix: String,
        script: redis::Script,
    },
}

pub struct InProcessWindows {
    windows: DashMap<String, Window>,
    max_keys: usize,
    last_sweep: Mutex<Instant>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    count: u32,
}

/// The key as stored: as given when short, else a digest of fixed length.
fn stored_key(key: &str) -> String {
    if key.len() <= MAX_STORED_KEY_BYTES {
        key.to_owned()
    } else {
        format!("sha256:{}", hash_opaque_token(key))
    }
}

impl RateLimiter {
    pub fn in_process(max_keys: usize) -> Self {
        Self::InProcess(InProcessWindows {
            windows: DashMap::new(),
            max_keys: max_keys.max(1),
            last_sweep: Mutex::new(Instant::now()),
        })
    }

    pub fn redis(link: RedisLink, prefix: &str) -> Self {
        Self::Redis {
            link,
            prefix: format!("{prefix}:ratelimit:"),
            script: redis::Script::new(REDIS_HIT_SCRIPT),
        }
    }

    /// Counts one attempt under `key`; past `limit` in the window it answers 429.
    pub async fn hit(&self, key: &str, limit: u32, window: Duration) -> AppResult<()> {
        let key = stored_key(key);
        let (count, remaining) = match self {
            Self::InProcess(windows) => windows.hit(key, window)?,
            Self::Redis {
                link,
                prefix,
                script,
            } => {
                let mut invocation = script.prepare_invoke();
                invocation
                    .key(format!("{prefix}{key}"))
                    .arg(window.as_millis() as u64);
                let (count, ttl_ms): (u32, i64) =
                    link.call(|mut connection| async move {
                        invocation.invoke_async(&mut connection).await
                    })
                    .await?;
                (count, Duration::from_millis(ttl_ms.max(0) as u64))
            }
        };
        if count > limit {
            return Err(rate_limited(remaining));
        }
        Ok(())
    }

    /// How many windows this process keeps (0 with Redis).
    pub fn tracked_keys(&self) -> usize {
        match self {
            Self::InProcess(windows) => windows.windows.len(),
            Self::Redis { .. } => 0,
        }
    }
}

fn rate_limited(remaining: Duration) -> AppError {
    let retry_after_secs = remaining.as_secs() + u64::from(remaining.subsec_nanos() > 0);
    AppError::RateLimited {
        retry_after_secs: retry_after_secs.max(1),
    }
}

impl InProcessWindows {
    fn hit(&self, key: String, window: Duration) -> AppResult<(u32, Duration)> {
        let now = Instant::now();
        if !self.windows.contains_key(&key) && self.windows.len() >= self.max_keys {
            self.sweep(window, now);
            if self.windows.len() >= self.max_keys {
                tracing::warn!(
                    max_keys = self.max_keys,
                    "rate-limit table full; refusing attempts under new keys"
                );
                return Err(rate_limited(window));
            }
        }
        let mut entry = self.windows.entry(key).or_insert(Window {
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
        Ok((
            entry.count,
            window.saturating_sub(now.duration_since(entry.started)),
        ))
    }

    /// Drops expired windows, at most once per `SWEEP_INTERVAL`.
    fn sweep(&self, window: Duration, now: Instant) {
        {
            let mut last_sweep = self
                .last_sweep
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if now.duration_since(*last_sweep) < SWEEP_INTERVAL {
                return;
            }
            *last_sweep = now;
        }
        self.windows
            .retain(|_, entry| now.duration_since(entry.started) < window);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn in_process_limit_and_reset() {
        let limiter = RateLimiter::in_process(100);
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

    #[tokio::test]
    async fn in_process_memory_is_bounded_whatever_keys_clients_send() {
        let max_keys = 50;
        let limiter = RateLimiter::in_process(max_keys);
        let window = Duration::from_millis(300);
        let mut refused = 0;
        for n in 0..1_000 {
            // long client-chosen keys are kept as a digest of fixed length
            let key = format!("login:name:{n}:{}", "x".repeat(10_000));
            match limiter.hit(&key, 5, window).await {
                Ok(()) => {}
                Err(AppError::RateLimited { .. }) => refused += 1,
                Err(other) => panic!("unexpected {other:?}"),
            }
            assert!(limiter.tracked_keys() <= max_keys);
        }
        assert_eq!(
            refused,
            1_000 - max_keys,
            "new keys past the cap are refused"
        );
        let RateLimiter::InProcess(windows) = &limiter else {
            unreachable!()
        };
        assert!(
            windows
                .windows
                .iter()
                .all(|entry| entry.key().len() <= MAX_STORED_KEY_BYTES)
        );
        // a key already tracked keeps counting while the table is full
        limiter
            .hit(&format!("login:name:0:{}", "x".repeat(10_000)), 5, window)
            .await
            .unwrap();

        // once their windows have expired, the old keys make room for new ones
        tokio::time::sleep(window.max(SWEEP_INTERVAL)).await;
        limiter.hit("login:name:new", 5, window).await.unwrap();
        assert_eq!(limiter.tracked_keys(), 1, "expired windows were evicted");
    }
}
