//! The bus over PostgreSQL LISTEN/NOTIFY, on a connection of its own.

use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

use super::{Backoff, LINK_TIMEOUT, Local, link_lost, subscribed};

/// The channel every process of one database listens on.
const CHANNEL: &str = "vitrine_bus";

pub(super) async fn notify(db: &DatabaseConnection, payload: String) -> anyhow::Result<()> {
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_notify($1, $2)",
        [CHANNEL.into(), payload.into()],
    );
    db.execute(statement).await?;
    Ok(())
}

/// Listens, hands every other process's notice to `local`, and listens again, with
/// backoff, whenever the connection is lost.
pub(super) async fn listen(url: String, origin: u64, local: Local) {
    let mut backoff = Backoff::default();
    let mut subscribed_before = false;
    loop {
        let attempt = tokio::time::timeout(LINK_TIMEOUT, async {
            let mut listener = PgListener::connect(&url).await?;
            // a lost connection ends the loop below; it is re-established here
            listener.eager_reconnect(false);
            listener.listen(CHANNEL).await?;
            Ok::<_, sea_orm::sqlx::Error>(listener)
        })
        .await;
        match attempt {
            Ok(Ok(mut listener)) => {
                backoff = Backoff::default();
                subscribed("postgres", &local, &mut subscribed_before);
                loop {
                    match listener.try_recv().await {
                        Ok(Some(notification)) => {
                            local.deliver_payload(origin, notification.payload());
                        }
                        Ok(None) => break,
                        Err(err) => {
                            tracing::debug!(error = %err, "bus: LISTEN connection error");
                            break;
                        }
                    }
                }
                link_lost(&local);
                tracing::warn!("bus: the PostgreSQL LISTEN connection was lost");
            }
            Ok(Err(err)) => tracing::warn!(error = %err, "bus: cannot LISTEN on PostgreSQL"),
            Err(_) => tracing::warn!("bus: connecting to PostgreSQL to LISTEN timed out"),
        }
        tokio::time::sleep(backoff.next_wait()).await;
    }
}
