//! The request path's own reads (SQLite directly, PostgreSQL on connections of their
//! own): each value is read as the type asked for, or refused.

use vitrine::db::read::Row;

use crate::helpers::spawn_app;

async fn one_row(sql: &str) -> Row {
    let app = spawn_app().await;
    let rows = app.state.reader.sql(sql, Vec::new()).await.unwrap();
    rows.into_iter().next().expect("one row")
}

#[tokio::test]
async fn values_read_as_their_own_type_and_refused_as_another() {
    let row = one_row(
        "SELECT CAST(7 AS BIGINT) AS n, CAST('Полёт' AS VARCHAR(16)) AS v, \
         CAST('x' AS TEXT) AS t, CAST(NULL AS TEXT) AS gone",
    )
    .await;
    assert_eq!(row.get::<i64>("n").unwrap(), 7);
    assert_eq!(row.get::<String>("v").unwrap(), "Полёт");
    assert_eq!(row.get::<String>("t").unwrap(), "x");
    assert_eq!(row.get::<Option<String>>("gone").unwrap(), None);
    assert_eq!(
        row.get::<Option<String>>("t").unwrap(),
        Some("x".to_owned())
    );
    assert!(row.get::<String>("n").is_err(), "a number is not text");
    assert!(row.get::<i64>("t").is_err(), "text is not a number");
    assert!(row.get::<String>("gone").is_err(), "NULL is not text");
    assert!(row.get::<i64>("missing").is_err(), "no such column");
}
