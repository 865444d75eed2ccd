//! PostgreSQL reads on the request path, on connections of their own. sqlx's pool checks
//! a connection with a round trip to the server when it hands it out and again when it
//! takes it back, so every read cost three round trips instead of one; on a catalog page
//! those checks took a third of this server's CPU and a share of PostgreSQL's.
//!
//! Here a connection goes back to the idle list only once its read has finished. A read
//! abandoned half-way (the client went away) drops its connection, which closes it, so no
//! connection with an unread answer is ever reused. A connection the server has closed
//! meanwhile (a restart) fails its next read: the idle ones are then dropped, being from
//! the same server, and the read runs once more on a new connection.

use std::borrow::Cow;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;
use sea_orm::sea_query::{Value, Values};
use sea_orm::sqlx::postgres::{PgConnectOptions, PgConnection};
use sea_orm::sqlx::{self, Connection};
use sea_orm::{DbErr, RuntimeErr};
use sea_query_binder::SqlxValues;
use tokio::sync::Semaphore;

use super::read::Row;
use crate::error::{AppError, AppResult, database_unreachable};

pub struct PostgresReader {
    options: PgConnectOptions,
    idle: Mutex<Vec<PgConnection>>,
    /// One per connection that may be open: at most this many reads at once.
    permits: Semaphore,
    /// How long a read waits for a free connection, and for a new one to open.
    wait: Duration,
}

impl PostgresReader {
    pub fn new(url: &str, max_connections: u32, wait: Duration) -> anyhow::Result<Self> {
        let options = PgConnectOptions::from_str(url).context("parsing the PostgreSQL URL")?;
        Ok(Self {
            options,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(usize::try_from(max_connections.max(1)).unwrap_or(1)),
            wait,
        })
    }

    pub async fn query(&self, sql: &str, values: Vec<Value>) -> AppResult<Vec<Row>> {
        let (rows, _) = self.query_then(sql, values, |_| Ok(None)).await?;
        Ok(rows)
    }

    /// A read, then the read `next` writes from its rows (if any), on one connection: a
    /// request that needs both waits for a connection once. The rows of both reads; none
    /// for the second when there is none.
    pub async fn query_then<F>(
        &self,
        sql: &str,
        values: Vec<Value>,
        next: F,
    ) -> AppResult<(Vec<Row>, Vec<Row>)>
    where
        F: FnOnce(&[Row]) -> AppResult<Option<(Cow<'static, str>, Vec<Value>)>>,
    {
        let _permit = tokio::time::timeout(self.wait, self.permits.acquire())
            .await
            .map_err(|_| unreachable_error())?
            .map_err(AppError::internal)?;
        let (mut connection, first) = match self.take() {
            None => self.first_read(self.open().await?, sql, values).await?,
            Some(connection) => match self.first_read(connection, sql, values.clone()).await {
                Err(err) if database_unreachable(&err) => {
                    self.forget_idle();
                    self.first_read(self.open().await?, sql, values).await?
                }
                result => result?,
            },
        };
        let then = next(&first);
        let second = match then {
            Ok(Some((sql, values))) => read(&mut connection, &sql, values).await?,
            Ok(None) => Vec::new(),
            Err(err) => {
                self.give_back(connection);
                return Err(err);
            }
        };
        self.give_back(connection);
        Ok((first, second))
    }

    async fn first_read(
        &self,
        mut connection: PgConnection,
        sql: &str,
        values: Vec<Value>,
    ) -> Result<(PgConnection, Vec<Row>), DbErr> {
        let rows = read(&mut connection, sql, values).await?;
        Ok((connection, rows))
    }

    async fn open(&self) -> Result<PgConnection, DbErr> {
        tokio::time::timeout(self.wait, PgConnection::connect_with(&self.options))
            .await
            .map_err(|_| DbErr::ConnectionAcquire(sea_orm::error::ConnAcquireErr::Timeout))?
            .map_err(|err| DbErr::Conn(RuntimeErr::SqlxError(err)))
    }

    fn take(&self) -> Option<PgConnection> {
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop()
    }

    fn give_back(&self, connection: PgConnection) {
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(connection);
    }

    fn forget_idle(&self) {
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }
}

/// One read; a connection whose read failed or was abandoned is not given back.
async fn read(
    connection: &mut PgConnection,
    sql: &str,
    values: Vec<Value>,
) -> Result<Vec<Row>, DbErr> {
    let rows = sqlx::query_with(sql, SqlxValues(Values(values)))
        .fetch_all(connection)
        .await
        .map_err(|err| DbErr::Query(RuntimeErr::SqlxError(err)))?;
    Ok(rows.into_iter().map(Row::Postgres).collect())
}

fn unreachable_error() -> AppError {
    AppError::from(DbErr::ConnectionAcquire(
        sea_orm::error::ConnAcquireErr::Timeout,
    ))
}
