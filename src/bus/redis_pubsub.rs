//! The bus over Redis pub/sub: one channel per deployment (`{prefix}:bus`).

use futures_util::StreamExt;

use super::{Backoff, LINK_TIMEOUT, Local, link_lost, subscribed};
use crate::auth::redis_link::RedisLink;

pub(super) async fn publish(
    publisher: &RedisLink,
    channel: &str,
    payload: String,
) -> anyhow::Result<()> {
    publisher
        .call(|mut connection| async move {
            redis::cmd("PUBLISH")
                .arg(channel)
                .arg(payload)
                .query_async::<i64>(&mut connection)
                .await
        })
        .await
        .map(drop)
        .map_err(|_| anyhow::anyhow!("Redis is unreachable"))
}

/// Subscribes, hands every other process's notice to `local`, and subscribes again,
/// with backoff, whenever the connection is lost.
pub(super) async fn subscribe(client: redis::Client, channel: String, origin: u64, local: Local) {
    let mut backoff = Backoff::default();
    let mut subscribed_before = false;
    loop {
        let attempt = tokio::time::timeout(LINK_TIMEOUT, async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        })
        .await;
        match attempt {
            Ok(Ok(pubsub)) => {
                backoff = Backoff::default();
                subscribed("redis", &local, &mut subscribed_before);
                let mut messages = pubsub.into_on_message();
                while let Some(message) = messages.next().await {
                    match message.get_payload::<String>() {
                        Ok(payload) => local.deliver_payload(origin, &payload),
                        Err(err) => tracing::debug!(error = %err, "bus: unreadable notice"),
                    }
                }
                link_lost(&local);
                tracing::warn!("bus: the Redis subscription was lost");
            }
            Ok(Err(err)) => tracing::warn!(error = %err, "bus: cannot subscribe to Redis"),
            Err(_) => tracing::warn!("bus: subscribing to Redis timed out"),
        }
        tokio::time::sleep(backoff.next_wait()).await;
    }
}
