//! Reads whose SQL text is the same on every call. sea-query builds a statement's text
//! from its tree each time it runs: for a watch page's two reads that was about a third
//! of the request's CPU. A [`Prepared`] read is built once per backend from a template
//! and then only bound with each call's values.

use std::borrow::Cow;
use std::sync::OnceLock;

use sea_orm::DbBackend;
use sea_orm::sea_query::{SelectStatement, Value};

use super::read::{ColumnNames, Reader, Row};
use crate::error::{AppError, AppResult};

/// Template values standing for a call's parameters: `PARAMETER_BASE + n` is the `n`-th.
/// Far below any id or count a query compares with.
const PARAMETER_BASE: i64 = i64::MIN;
/// The stand-ins a template may hold: at most 16 parameters.
const PARAMETERS: std::ops::Range<i64> = PARAMETER_BASE..PARAMETER_BASE + 16;

pub struct Prepared {
    template: fn() -> SelectStatement,
    sqlite: OnceLock<Built>,
    postgres: OnceLock<Built>,
}

struct Built {
    sql: String,
    values: Vec<Value>,
    /// Its rows' column names on SQLite's direct path: the same on every connection, as
    /// the schema does not change while the server runs.
    names: ColumnNames,
}

impl Prepared {
    /// A read built by `template`, which writes [`Prepared::parameter`]`(n)` where a
    /// call's `n`-th value goes; its other values are constants of the query.
    pub const fn new(template: fn() -> SelectStatement) -> Self {
        Self {
            template,
            sqlite: OnceLock::new(),
            postgres: OnceLock::new(),
        }
    }

    /// The stand-in for the `n`-th value of a call, in a template.
    pub const fn parameter(n: u8) -> i64 {
        PARAMETER_BASE + n as i64
    }

    fn built(&self, backend: DbBackend) -> &Built {
        let cell = match backend {
            DbBackend::Postgres => &self.postgres,
            _ => &self.sqlite,
        };
        cell.get_or_init(|| {
            let (sql, values) = super::read::written_for(backend, &(self.template)());
            Built {
                sql,
                values,
                names: ColumnNames::new(),
            }
        })
    }

    /// The template's values with the call's in place of their stand-ins.
    fn values(&self, backend: DbBackend, call: &[Value]) -> AppResult<(&Built, Vec<Value>)> {
        let built = self.built(backend);
        Ok((built, with_call_values(&built.values, call)?))
    }
}

/// A template's values with a call's in place of their stand-ins
/// ([`Prepared::parameter`]).
pub fn with_call_values(template: &[Value], call: &[Value]) -> AppResult<Vec<Value>> {
    template
        .iter()
        .map(|value| match value {
            Value::BigInt(Some(n)) if PARAMETERS.contains(n) => {
                let index = n.abs_diff(PARAMETER_BASE) as usize;
                call.get(index).cloned().ok_or_else(|| {
                    AppError::Internal(anyhow::anyhow!(
                        "a prepared read was given {} values, not {}",
                        call.len(),
                        index + 1
                    ))
                })
            }
            constant => Ok(constant.clone()),
        })
        .collect()
}

impl Reader {
    /// The rows of a prepared read with these values.
    pub async fn prepared(&self, read: &Prepared, call: &[Value]) -> AppResult<Vec<Row>> {
        match self {
            Self::Sqlite(reader) => {
                let (built, values) = read.values(DbBackend::Sqlite, call)?;
                reader.query_named(&built.sql, values, Some(&built.names))
            }
            Self::Postgres(_) | Self::Pool(_) => {
                let (built, values) = read.values(self.backend(), call)?;
                self.sql(&built.sql, values).await
            }
        }
    }

    /// The rows of a prepared read, and those of the prepared read `next` chooses from
    /// them, if any (none when there is none): on PostgreSQL both on one connection, so a
    /// request waits for one once.
    pub async fn prepared_then<F>(
        &self,
        read: &Prepared,
        call: &[Value],
        next: F,
    ) -> AppResult<(Vec<Row>, Vec<Row>)>
    where
        F: FnOnce(&[Row]) -> AppResult<Option<(&'static Prepared, Vec<Value>)>>,
    {
        if let Self::Postgres(reader) = self {
            let (built, values) = read.values(DbBackend::Postgres, call)?;
            return reader
                .query_then(&built.sql, values, |rows| {
                    let Some((then, call)) = next(rows)? else {
                        return Ok(None);
                    };
                    let (built, values) = then.values(DbBackend::Postgres, &call)?;
                    Ok(Some((Cow::Borrowed(built.sql.as_str()), values)))
                })
                .await;
        }
        let first = self.prepared(read, call).await?;
        let second = match next(&first)? {
            Some((then, call)) => self.prepared(then, &call).await?,
            None => Vec::new(),
        };
        Ok((first, second))
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::sea_query::{Alias, Expr, Query};

    use super::*;

    fn template() -> SelectStatement {
        Query::select()
            .column(Alias::new("id"))
            .from(Alias::new("watch"))
            .and_where(Expr::col(Alias::new("kind")).eq("constant"))
            .and_where(Expr::col(Alias::new("id")).eq(Prepared::parameter(1)))
            .and_where(Expr::col(Alias::new("brand_id")).eq(Prepared::parameter(0)))
            .and_where(Expr::col(Alias::new("year")).gt(-1))
            .and_where(Expr::col(Alias::new("rank")).lt(5_i64))
            .to_owned()
    }

    static READ: Prepared = Prepared::new(template);

    #[test]
    fn calls_fill_the_parameters_and_keep_the_constants() {
        for backend in [DbBackend::Sqlite, DbBackend::Postgres] {
            let (built, values) = READ
                .values(backend, &[Value::from(7_i64), Value::from(42_i64)])
                .unwrap();
            let sql = built.sql.as_str();
            assert!(sql.contains("WHERE"), "{sql}");
            assert_eq!(
                values,
                [
                    Value::from("constant"),
                    Value::from(42_i64),
                    Value::from(7_i64),
                    Value::from(-1_i32),
                    Value::from(5_i64),
                ]
            );
            // the text is built once
            let (again, _) = READ
                .values(backend, &[Value::from(1_i64), Value::from(2_i64)])
                .unwrap();
            assert!(std::ptr::eq(sql, again.sql.as_str()));
        }
    }

    #[test]
    fn a_call_missing_a_value_is_an_error() {
        assert!(
            READ.values(DbBackend::Sqlite, &[Value::from(7_i64)])
                .is_err()
        );
    }
}
