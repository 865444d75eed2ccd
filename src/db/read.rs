//! Reads on the request path. With PostgreSQL they run on connections of their own
//! ([`super::postgres_read`]). With SQLite they run on the calling thread, on a
//! connection of their own opened read-only: sqlx drives each SQLite connection from a
//! worker thread, and the hand-offs to it and back cost about ten times what SQLite
//! spends on a primary-key lookup. WAL lets these readers run beside the writer, each on
//! the last committed state, so a read after a write sees it.
//!
//! Rows are read by column name with the type the caller asks for, so one mapping works
//! for both databases.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use rusqlite::types::Value as SqliteValue;
use sea_orm::sea_query::ColumnType;
use sea_orm::sea_query::{
    PostgresQueryBuilder, QueryBuilder, QueryStatementWriter, SqlWriter, SqlWriterValues,
    SqliteQueryBuilder, Value, Values,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait,
    FromQueryResult, IdenStatic, Iterable, QueryResult, QuerySelect, QueryTrait, Select,
    StatementBuilder, TryGetable, TryIntoModel,
};

use sea_orm::sqlx::postgres::PgRow;
use sea_orm::sqlx::{self, Column as _, Row as _, ValueRef as _};

use super::postgres_read::PostgresReader;
use crate::config::Config;
use crate::error::{AppError, AppResult};

/// Idle read connections kept for reuse; more may be open while requests run.
const IDLE_CONNECTIONS: usize = 8;

pub enum Reader {
    Sqlite(SqliteReader),
    Postgres(Box<PostgresReader>),
    /// SQLite through the pool: a database in memory, which only the pool's connections
    /// share, or with `VITRINE_SQLITE_DIRECT_READS` off.
    Pool(DatabaseConnection),
}

pub struct SqliteReader {
    path: PathBuf,
    idle: Mutex<Vec<rusqlite::Connection>>,
    /// Page cache of each connection, in KiB.
    cache_kib: i64,
}

/// One row of a read.
pub enum Row {
    Sqlite {
        columns: std::sync::Arc<[String]>,
        values: Vec<SqliteValue>,
    },
    /// A row of the request path's own PostgreSQL reads, read by position: through SeaORM
    /// each value was looked up by a name built afresh, a third of a search page's CPU.
    Postgres(PgRow),
    Pool(QueryResult),
}

impl Reader {
    /// Reads through `db` itself unless it is PostgreSQL or SQLite with a file of its
    /// own. Each SQLite connection caches up to `sqlite_read_cache_mb` of pages: SQLite's
    /// default (2 MB) held too little of a catalog for random reads, and most page reads
    /// were copies from the OS.
    pub fn new(db: &DatabaseConnection, config: &Config) -> anyhow::Result<Self> {
        if db.get_database_backend() == DbBackend::Postgres {
            return Ok(Self::Postgres(Box::new(PostgresReader::new(
                &config.database_url(),
                config.db_read_connections(),
                config.db_acquire_timeout(),
            )?)));
        }
        Ok(match super::sqlite_file(config) {
            Some(path) => Self::Sqlite(SqliteReader {
                path,
                idle: Mutex::new(Vec::new()),
                cache_kib: i64::try_from(config.sqlite_read_cache_mb.saturating_mul(1024))
                    .unwrap_or(i64::MAX),
            }),
            None => Self::Pool(db.clone()),
        })
    }

    pub fn backend(&self) -> DbBackend {
        match self {
            Self::Sqlite(_) => DbBackend::Sqlite,
            Self::Postgres(_) => DbBackend::Postgres,
            Self::Pool(db) => db.get_database_backend(),
        }
    }

    pub async fn all<S: QueryStatementWriter + StatementBuilder>(
        &self,
        statement: &S,
    ) -> AppResult<Vec<Row>> {
        match self {
            Self::Pool(db) => pool_rows(db, db.get_database_backend().build(statement)).await,
            _ => {
                let (sql, values) = written_for(self.backend(), statement);
                self.sql(&sql, values).await
            }
        }
    }

    /// The rows of SQL written for this reader's [`Reader::backend`]: for statements that
    /// sea-query does not build (a recursive walk of an index).
    pub async fn sql(&self, sql: &str, values: Vec<Value>) -> AppResult<Vec<Row>> {
        match self {
            Self::Sqlite(reader) => reader.query(sql, values),
            Self::Postgres(reader) => reader.query(sql, values).await,
            Self::Pool(db) => {
                let backend = db.get_database_backend();
                pool_rows(
                    db,
                    sea_orm::Statement::from_sql_and_values(backend, sql, values),
                )
                .await
            }
        }
    }

    /// The rows of SQL written for this reader's [`Reader::backend`], and those of the SQL
    /// `next` writes from them, if any (none when there is none): on PostgreSQL both on
    /// one connection, so a request waits for one once.
    pub async fn sql_then<F>(
        &self,
        sql: &str,
        values: Vec<Value>,
        next: F,
    ) -> AppResult<(Vec<Row>, Vec<Row>)>
    where
        F: FnOnce(&[Row]) -> AppResult<Option<(Cow<'static, str>, Vec<Value>)>>,
    {
        if let Self::Postgres(reader) = self {
            return reader.query_then(sql, values, next).await;
        }
        let first = self.sql(sql, values).await?;
        let second = match next(&first)? {
            Some((sql, values)) => self.sql(&sql, values).await?,
            None => Vec::new(),
        };
        Ok((first, second))
    }

    pub async fn one<S: QueryStatementWriter + StatementBuilder>(
        &self,
        statement: &S,
    ) -> AppResult<Option<Row>> {
        Ok(self.all(statement).await?.into_iter().next())
    }

    /// The values of `column` in every row of a read, gathered in order.
    pub async fn column<T, C, S>(&self, statement: &S, column: &str) -> AppResult<C>
    where
        T: Column,
        C: FromIterator<T>,
        S: QueryStatementWriter + StatementBuilder,
    {
        self.all(statement)
            .await?
            .iter()
            .map(|row| row.get::<T>(column))
            .collect()
    }
}

/// A read's text and values for `backend`; on PostgreSQL with its row limits written in
/// (see [`postgres_read`]).
pub fn written_for<S: QueryStatementWriter>(
    backend: DbBackend,
    statement: &S,
) -> (String, Vec<Value>) {
    let (sql, values) = match backend {
        DbBackend::Postgres => postgres_read(statement),
        _ => statement.build(SqliteQueryBuilder),
    };
    (sql, values.0)
}

/// A read's text for PostgreSQL, with its row limits written in rather than bound.
/// PostgreSQL plans a prepared statement afresh on every run until a plan made for any
/// values looks as cheap as those made for the values given; with the limit a
/// parameter, the plan for any values assumes a tenth of the rows and never does, so
/// every read of a page paid more for planning than for running. A statement whose
/// best plan depends on its values still gets a fresh one each time.
pub(super) fn postgres_read<S: QueryStatementWriter>(statement: &S) -> (String, Values) {
    let mut writer = LimitsWrittenIn(SqlWriterValues::new("$", true));
    statement.build_collect_any_into(&PostgresQueryBuilder, &mut writer);
    writer.0.into_parts()
}

/// Statement text with unsigned integers written in: sea-query binds `LIMIT` and
/// `OFFSET` as such, and no column this server reads compares with one.
struct LimitsWrittenIn(SqlWriterValues);

impl std::fmt::Write for LimitsWrittenIn {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        self.0.write_str(text)
    }
}

impl std::fmt::Display for LimitsWrittenIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl SqlWriter for LimitsWrittenIn {
    fn push_param(&mut self, value: Value, query_builder: &dyn QueryBuilder) {
        match value {
            Value::BigUnsigned(Some(n)) => {
                let _ = std::fmt::Write::write_fmt(&mut self.0, format_args!("{n}"));
            }
            other => self.0.push_param(other, query_builder),
        }
    }

    fn as_writer(&mut self) -> &mut dyn std::fmt::Write {
        self as _
    }
}

/// The rows of a statement run through the pool.
async fn pool_rows(db: &DatabaseConnection, statement: sea_orm::Statement) -> AppResult<Vec<Row>> {
    let rows = db.query_all(statement).await?;
    Ok(rows.into_iter().map(Row::Pool).collect())
}

/// Runs selects: the request-path [`Reader`], or a write transaction
/// ([`super::write::WriteTx`]) that must see its own changes.
pub trait Queries: Sync {
    fn all<S: QueryStatementWriter + StatementBuilder + Sync>(
        &self,
        statement: &S,
    ) -> impl Future<Output = AppResult<Vec<Row>>> + Send;

    fn one<S: QueryStatementWriter + StatementBuilder + Sync>(
        &self,
        statement: &S,
    ) -> impl Future<Output = AppResult<Option<Row>>> + Send {
        async { Ok(self.all(statement).await?.into_iter().next()) }
    }
}

/// The models a SeaORM select finds, through any [`Queries`].
pub async fn find_all<E: EntityTrait>(
    queries: &impl Queries,
    select: Select<E>,
) -> AppResult<Vec<E::Model>>
where
    E::ActiveModel: TryIntoModel<E::Model>,
{
    queries
        .all(&select.into_query())
        .await?
        .iter()
        .map(|row| row.model::<E>(""))
        .collect()
}

/// The first model a SeaORM select finds, through any [`Queries`].
pub async fn find_one<E: EntityTrait>(
    queries: &impl Queries,
    select: Select<E>,
) -> AppResult<Option<E::Model>>
where
    E::ActiveModel: TryIntoModel<E::Model>,
{
    queries
        .one(&select.limit(1).into_query())
        .await?
        .map(|row| row.model::<E>(""))
        .transpose()
}

impl Queries for Reader {
    async fn all<S: QueryStatementWriter + StatementBuilder + Sync>(
        &self,
        statement: &S,
    ) -> AppResult<Vec<Row>> {
        Reader::all(self, statement).await
    }
}

impl SqliteReader {
    pub(super) fn query(&self, sql: &str, values: Vec<Value>) -> AppResult<Vec<Row>> {
        self.query_named(sql, values, None)
    }

    /// As [`SqliteReader::query`], with the statement's column names kept in `names`
    /// once read.
    pub(super) fn query_named(
        &self,
        sql: &str,
        values: Vec<Value>,
        names: Option<&ColumnNames>,
    ) -> AppResult<Vec<Row>> {
        let connection = match self.take() {
            Some(connection) => connection,
            None => self.open().map_err(read_failed)?,
        };
        let result = run_named(&connection, sql, values, names);
        self.give_back(connection);
        result.map_err(read_failed)
    }

    fn take(&self) -> Option<rusqlite::Connection> {
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop()
    }

    fn give_back(&self, connection: rusqlite::Connection) {
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if idle.len() < IDLE_CONNECTIONS {
            idle.push(connection);
        }
    }

    fn open(&self) -> rusqlite::Result<rusqlite::Connection> {
        use rusqlite::OpenFlags;
        let connection = rusqlite::Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        connection.busy_timeout(Duration::from_secs(5))?;
        // a negative size is in KiB
        connection.pragma_update(None, "cache_size", -self.cache_kib.max(1))?;
        connection.set_prepared_statement_cache_capacity(64);
        Ok(connection)
    }
}

pub(super) fn read_failed(err: rusqlite::Error) -> AppError {
    AppError::Internal(anyhow::anyhow!("SQLite read failed: {err}"))
}

pub(super) fn run(
    connection: &rusqlite::Connection,
    sql: &str,
    values: Vec<Value>,
) -> rusqlite::Result<Vec<Row>> {
    run_named(connection, sql, values, None)
}

/// The column names of one statement's rows, read from SQLite once: copying them for
/// every run was a twentieth of a watch page's instructions.
pub(super) type ColumnNames = std::sync::OnceLock<std::sync::Arc<[String]>>;

fn run_named(
    connection: &rusqlite::Connection,
    sql: &str,
    values: Vec<Value>,
    names: Option<&ColumnNames>,
) -> rusqlite::Result<Vec<Row>> {
    let mut statement = connection.prepare_cached(sql)?;
    let read_names = |statement: &rusqlite::CachedStatement<'_>| -> std::sync::Arc<[String]> {
        statement
            .column_names()
            .into_iter()
            .map(str::to_owned)
            .collect()
    };
    let columns = match names.map(|names| names.get_or_init(|| read_names(&statement))) {
        // a statement naming its columns keeps them; one with `*` could change with the schema
        Some(names) if names.len() == statement.column_count() => names.clone(),
        _ => read_names(&statement),
    };
    let width = columns.len();
    let params = bind(values)?;
    let mut rows = statement.query(rusqlite::params_from_iter(params))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let mut values = Vec::with_capacity(width);
        for index in 0..width {
            values.push(row.get::<_, SqliteValue>(index)?);
        }
        out.push(Row::Sqlite {
            columns: columns.clone(),
            values,
        });
    }
    Ok(out)
}

/// Statement parameters as SQLite values; a type `to_sqlite` does not send is refused.
pub(super) fn bind(values: Vec<Value>) -> rusqlite::Result<Vec<SqliteValue>> {
    values
        .into_iter()
        .map(|value| {
            to_sqlite(value).ok_or_else(|| {
                rusqlite::Error::ToSqlConversionFailure(
                    "a parameter of a type SQLite is never sent".into(),
                )
            })
        })
        .collect()
}

/// A parameter as sqlx would bind it, so comparisons with stored text (timestamps)
/// behave the same on both paths.
fn to_sqlite(value: Value) -> Option<SqliteValue> {
    Some(match value {
        Value::Bool(v) => v.map_or(SqliteValue::Null, |v| SqliteValue::Integer(v.into())),
        Value::TinyInt(v) => v.map_or(SqliteValue::Null, |v| SqliteValue::Integer(v.into())),
        Value::SmallInt(v) => v.map_or(SqliteValue::Null, |v| SqliteValue::Integer(v.into())),
        Value::Int(v) => v.map_or(SqliteValue::Null, |v| SqliteValue::Integer(v.into())),
        Value::BigInt(v) => v.map_or(SqliteValue::Null, SqliteValue::Integer),
        Value::TinyUnsigned(v) => v.map_or(SqliteValue::Null, |v| SqliteValue::Integer(v.into())),
        Value::SmallUnsigned(v) => v.map_or(SqliteValue::Null, |v| SqliteValue::Integer(v.into())),
        Value::Unsigned(v) => v.map_or(SqliteValue::Null, |v| SqliteValue::Integer(v.into())),
        Value::BigUnsigned(v) => v.map_or(SqliteValue::Null, |v| {
            SqliteValue::Integer(i64::try_from(v).unwrap_or(i64::MAX))
        }),
        Value::Float(v) => v.map_or(SqliteValue::Null, |v| SqliteValue::Real(v.into())),
        Value::Double(v) => v.map_or(SqliteValue::Null, SqliteValue::Real),
        Value::String(v) => v.map_or(SqliteValue::Null, |v| SqliteValue::Text(*v)),
        Value::Char(v) => v.map_or(SqliteValue::Null, |v| SqliteValue::Text(v.to_string())),
        Value::Bytes(v) => v.map_or(SqliteValue::Null, |v| SqliteValue::Blob(*v)),
        Value::Json(v) => v.map_or(SqliteValue::Null, |v| SqliteValue::Text(v.to_string())),
        Value::ChronoDateTimeUtc(v) => v.map_or(SqliteValue::Null, |v| {
            SqliteValue::Text(v.to_rfc3339_opts(SecondsFormat::AutoSi, false))
        }),
        Value::ChronoDateTime(v) => v.map_or(SqliteValue::Null, |v| {
            SqliteValue::Text(v.format("%F %T%.f").to_string())
        }),
        Value::ChronoDate(v) => v.map_or(SqliteValue::Null, |v| {
            SqliteValue::Text(v.format("%F").to_string())
        }),
        // refused rather than bound as something the pool would not have sent
        _ => return None,
    })
}

/// A column's value read as the type the caller wants.
pub trait Column: Sized + TryGetable {
    fn from_sqlite(value: &SqliteValue) -> Option<Self>;

    /// The value at `index`, checked against the column's type (a value decoded as
    /// another type would be wrong, not refused).
    fn from_postgres(row: &PgRow, index: usize) -> Result<Self, sqlx::Error>;
}

impl Row {
    /// The value of `column`; a missing column or a value of another type is an error.
    pub fn get<T: Column>(&self, column: &str) -> AppResult<T> {
        match self {
            Self::Pool(row) => Ok(row.try_get::<T>("", column)?),
            Self::Postgres(row) => {
                let index = row
                    .columns()
                    .iter()
                    .position(|name| name.name() == column)
                    .ok_or_else(|| bad_column(column, "is not in the row"))?;
                T::from_postgres(row, index).map_err(|err| bad_column(column, &err.to_string()))
            }
            Self::Sqlite { columns, values } => {
                let index = columns
                    .iter()
                    .position(|name| name == column)
                    .ok_or_else(|| bad_column(column, "is not in the row"))?;
                T::from_sqlite(&values[index]).ok_or_else(|| bad_column(column, "has another type"))
            }
        }
    }
}

impl Row {
    /// The row, or the columns of it named with `prefix`, as an entity's model.
    pub fn model<E: EntityTrait>(&self, prefix: &str) -> AppResult<E::Model>
    where
        E::ActiveModel: TryIntoModel<E::Model>,
    {
        match self {
            Self::Pool(row) => Ok(E::Model::from_query_result(row, prefix)?),
            Self::Postgres(row) => postgres_model::<E>(row, prefix),
            Self::Sqlite { columns, values } => sqlite_model::<E>(columns, values, prefix),
        }
    }

    /// As [`Row::model`], `None` when the columns are empty (an outer join found nothing).
    pub fn model_optional<E: EntityTrait>(&self, prefix: &str) -> AppResult<Option<E::Model>>
    where
        E::ActiveModel: TryIntoModel<E::Model>,
    {
        match self {
            Self::Pool(row) => Ok(E::Model::from_query_result_optional(row, prefix)?),
            Self::Postgres(row) => Ok(postgres_model::<E>(row, prefix).ok()),
            // as SeaORM decides: a row that does not make a model is none
            Self::Sqlite { columns, values } => Ok(sqlite_model::<E>(columns, values, prefix).ok()),
        }
    }
}

/// The columns named with `prefix` as an entity's model, each value typed by the
/// entity's column definition, as the pool would decode it. Set one by one on an active
/// model: a map of the row for SeaORM to read back by name cost a quarter of a watch
/// page's CPU.
fn sqlite_model<E: EntityTrait>(
    columns: &[String],
    values: &[SqliteValue],
    prefix: &str,
) -> AppResult<E::Model>
where
    E::ActiveModel: TryIntoModel<E::Model>,
{
    row_model::<E>(
        columns.len(),
        |index| &columns[index],
        |index, column_type| typed_value(&values[index], column_type),
        prefix,
    )
}

/// As [`sqlite_model`], from a PostgreSQL row.
fn postgres_model<E: EntityTrait>(row: &PgRow, prefix: &str) -> AppResult<E::Model>
where
    E::ActiveModel: TryIntoModel<E::Model>,
{
    let columns = row.columns();
    row_model::<E>(
        columns.len(),
        |index| columns[index].name(),
        |index, column_type| postgres_typed_value(row, index, column_type),
        prefix,
    )
}

/// The model of the `count` columns named with `prefix`, whose names and typed values
/// `name` and `typed` give by position.
fn row_model<'a, E: EntityTrait>(
    count: usize,
    name: impl Fn(usize) -> &'a str,
    typed: impl Fn(usize, &ColumnType) -> Option<Value>,
    prefix: &str,
) -> AppResult<E::Model>
where
    E::ActiveModel: TryIntoModel<E::Model>,
{
    let mut model = <E::ActiveModel as ActiveModelTrait>::default();
    // the row's columns usually come in the entity's order: each search starts past the
    // last one found
    let mut next = 0;
    for column in E::Column::iter() {
        let wanted = column.as_str();
        let named = |index: &usize| name(*index).strip_prefix(prefix) == Some(wanted);
        let index = (next..count)
            .chain(0..next)
            .find(named)
            .ok_or_else(|| bad_column(&format!("{prefix}{wanted}"), "is not in the row"))?;
        next = index + 1;
        let value = typed(index, column.def().get_column_type())
            .ok_or_else(|| bad_column(name(index), "has another type"))?;
        model
            .try_set(column, value)
            .map_err(|err| bad_column(name(index), &err.to_string()))?;
    }
    Ok(model.try_into_model()?)
}

/// A PostgreSQL value as the type a column is declared with.
fn postgres_typed_value(row: &PgRow, index: usize, column_type: &ColumnType) -> Option<Value> {
    fn read<T: Column>(row: &PgRow, index: usize) -> Option<Option<T>> {
        Option::<T>::from_postgres(row, index).ok()
    }
    Some(match column_type {
        ColumnType::BigInteger => Value::BigInt(read(row, index)?),
        ColumnType::Integer => Value::Int(read(row, index)?),
        ColumnType::Boolean => Value::Bool(read(row, index)?),
        ColumnType::TimestampWithTimeZone => {
            Value::ChronoDateTimeUtc(read::<DateTime<Utc>>(row, index)?.map(Box::new))
        }
        ColumnType::String(_) | ColumnType::Text | ColumnType::Char(_) => {
            Value::String(read::<String>(row, index)?.map(Box::new))
        }
        _ => return None,
    })
}

/// A stored value as the type a column is declared with.
fn typed_value(value: &SqliteValue, column_type: &ColumnType) -> Option<Value> {
    Some(match column_type {
        ColumnType::BigInteger => Value::BigInt(Column::from_sqlite(value)?),
        ColumnType::Integer => Value::Int(Column::from_sqlite(value)?),
        ColumnType::Boolean => Value::Bool(Column::from_sqlite(value)?),
        ColumnType::TimestampWithTimeZone => {
            Value::ChronoDateTimeUtc(Option::<DateTime<Utc>>::from_sqlite(value)?.map(Box::new))
        }
        ColumnType::String(_) | ColumnType::Text | ColumnType::Char(_) => {
            Value::String(Option::<String>::from_sqlite(value)?.map(Box::new))
        }
        ColumnType::Double | ColumnType::Float => Value::Double(match value {
            SqliteValue::Null => None,
            SqliteValue::Real(v) => Some(*v),
            SqliteValue::Integer(v) => Some(*v as f64),
            _ => return None,
        }),
        ColumnType::Json | ColumnType::JsonBinary => Value::Json(match value {
            SqliteValue::Null => None,
            SqliteValue::Text(text) => Some(Box::new(serde_json::from_str(text).ok()?)),
            _ => return None,
        }),
        _ => return None,
    })
}

fn bad_column(column: &str, problem: &str) -> AppError {
    AppError::Internal(anyhow::anyhow!("column `{column}` {problem}"))
}

impl Column for i64 {
    fn from_sqlite(value: &SqliteValue) -> Option<Self> {
        match value {
            SqliteValue::Integer(v) => Some(*v),
            _ => None,
        }
    }

    fn from_postgres(row: &PgRow, index: usize) -> Result<Self, sqlx::Error> {
        row.try_get(index)
    }
}

impl Column for i32 {
    fn from_sqlite(value: &SqliteValue) -> Option<Self> {
        i64::from_sqlite(value).and_then(|v| i32::try_from(v).ok())
    }

    fn from_postgres(row: &PgRow, index: usize) -> Result<Self, sqlx::Error> {
        row.try_get(index)
    }
}

impl Column for bool {
    fn from_sqlite(value: &SqliteValue) -> Option<Self> {
        i64::from_sqlite(value).map(|v| v != 0)
    }

    fn from_postgres(row: &PgRow, index: usize) -> Result<Self, sqlx::Error> {
        row.try_get(index)
    }
}

/// PostgreSQL's text types: `text`, `varchar`, `bpchar` and `name`.
const TEXT_TYPES: [u32; 4] = [25, 1043, 1042, 19];

impl Column for String {
    fn from_sqlite(value: &SqliteValue) -> Option<Self> {
        match value {
            SqliteValue::Text(text) => Some(text.clone()),
            _ => None,
        }
    }

    /// Text columns skip sqlx's check, which compares the column's type with six (one by
    /// name) and cost more than the decoding; anything else goes through it.
    fn from_postgres(row: &PgRow, index: usize) -> Result<Self, sqlx::Error> {
        let textual = row
            .columns()
            .get(index)
            .and_then(|column| column.type_info().oid())
            .is_some_and(|oid| TEXT_TYPES.contains(&oid.0));
        if textual {
            row.try_get_unchecked(index)
        } else {
            row.try_get(index)
        }
    }
}

impl Column for DateTime<Utc> {
    fn from_sqlite(value: &SqliteValue) -> Option<Self> {
        match value {
            SqliteValue::Text(text) => parse_timestamp(text),
            _ => None,
        }
    }

    fn from_postgres(row: &PgRow, index: usize) -> Result<Self, sqlx::Error> {
        row.try_get(index)
    }
}

impl<T: Column> Column for Option<T> {
    fn from_sqlite(value: &SqliteValue) -> Option<Self> {
        match value {
            SqliteValue::Null => Some(None),
            other => T::from_sqlite(other).map(Some),
        }
    }

    fn from_postgres(row: &PgRow, index: usize) -> Result<Self, sqlx::Error> {
        if row.try_get_raw(index)?.is_null() {
            return Ok(None);
        }
        T::from_postgres(row, index).map(Some)
    }
}

/// Timestamps as sqlx writes them (RFC 3339), or as SQLite's own functions do.
fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    for format in ["%F %T%.f%:z", "%F %T%.fZ"] {
        if let Ok(at) = DateTime::parse_from_str(text, format) {
            return Some(at.with_timezone(&Utc));
        }
    }
    ["%F %T%.f", "%FT%T%.f"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .map(|at| at.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_read_back_as_they_were_bound() {
        let at = DateTime::parse_from_rfc3339("2026-12-01T10:11:12.345678+00:00")
            .map(|at| at.with_timezone(&Utc))
            .ok();
        let Some(at) = at else {
            panic!("the sample parses")
        };
        let Some(SqliteValue::Text(stored)) =
            to_sqlite(Value::ChronoDateTimeUtc(Some(Box::new(at))))
        else {
            panic!("a timestamp binds as text")
        };
        assert_eq!(parse_timestamp(&stored), Some(at));
        assert_eq!(
            parse_timestamp("2026-12-01 10:11:12"),
            DateTime::parse_from_rfc3339("2026-12-01T10:11:12Z")
                .ok()
                .map(|at| at.with_timezone(&Utc))
        );
    }

    #[test]
    fn postgres_reads_write_their_limits_in_and_bind_the_rest() {
        use sea_orm::sea_query::{Alias, Expr, Query};
        let select = Query::select()
            .column(Alias::new("id"))
            .from(Alias::new("watch"))
            .and_where(Expr::col(Alias::new("brand_id")).eq(4_i64))
            .and_where(Expr::col(Alias::new("code")).eq("31"))
            .limit(31)
            .offset(60)
            .to_owned();
        let (sql, values) = postgres_read(&select);
        assert!(
            sql.ends_with(r#"WHERE "brand_id" = $1 AND "code" = $2 LIMIT 31 OFFSET 60"#),
            "{sql}"
        );
        assert_eq!(values.0, [Value::from(4_i64), Value::from("31")]);
    }

    #[test]
    fn integers_are_not_read_as_text_or_out_of_range() {
        assert_eq!(i32::from_sqlite(&SqliteValue::Integer(i64::MAX)), None);
        assert_eq!(String::from_sqlite(&SqliteValue::Integer(1)), None);
        assert_eq!(Option::<i64>::from_sqlite(&SqliteValue::Null), Some(None));
    }
}
