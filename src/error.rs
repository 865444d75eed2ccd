//! The one error type of the HTTP API, rendered as `application/problem+json` (RFC 9457).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sea_orm::{DbErr, SqlErr};
use serde::Serialize;
use utoipa::ToSchema;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// What a 503 tells clients to wait: a backing service that drops out usually comes back
/// within seconds, and the server reconnects on its own.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 2;

/// One invalid field of a request body or query.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem: `urn:vitrine:problem:{code}`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code a client can switch on.
    pub code: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{detail}")]
    BadRequest { code: &'static str, detail: String },
    #[error("{detail}")]
    Unauthorized { code: &'static str, detail: String },
    #[error("{detail}")]
    Forbidden { code: &'static str, detail: String },
    #[error("{detail}")]
    NotFound { code: &'static str, detail: String },
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    #[error("{detail}")]
    PayloadTooLarge { detail: String },
    #[error("{detail}")]
    UnsupportedMediaType { detail: String },
    #[error("the request is invalid")]
    Validation(Vec<FieldError>),
    #[error("too many requests")]
    RateLimited { retry_after_secs: u64 },
    #[error("{detail}")]
    Unavailable { detail: String },
    /// Any status without a dedicated variant, e.g. a framework rejection.
    #[error("{detail}")]
    Status {
        status: StatusCode,
        code: &'static str,
        detail: String,
    },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            detail: detail.into(),
        }
    }
    pub fn unauthorized(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Unauthorized {
            code,
            detail: detail.into(),
        }
    }
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::Forbidden {
            code: "forbidden",
            detail: detail.into(),
        }
    }
    pub fn not_found(code: &'static str, detail: impl Into<String>) -> Self {
        Self::NotFound {
            code,
            detail: detail.into(),
        }
    }
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            detail: detail.into(),
        }
    }
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::Unavailable {
            detail: detail.into(),
        }
    }
    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        Self::Internal(err.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Status { status, .. } => *status,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. }
            | Self::Unauthorized { code, .. }
            | Self::Forbidden { code, .. }
            | Self::NotFound { code, .. }
            | Self::Conflict { code, .. }
            | Self::Status { code, .. } => code,
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UnsupportedMediaType { .. } => "unsupported_media_type",
            Self::Validation(_) => "validation_failed",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable { .. } => "unavailable",
            Self::Internal(_) => "internal_error",
        }
    }

    fn problem(&self) -> Problem {
        let status = self.status();
        let detail = match self {
            Self::Internal(_) => "the server could not complete the request".to_owned(),
            Self::RateLimited { retry_after_secs } => {
                format!("too many attempts; retry in {retry_after_secs} s")
            }
            other => other.to_string(),
        };
        Problem {
            kind: format!("urn:vitrine:problem:{}", self.code()),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            code: self.code().to_owned(),
            errors: match self {
                Self::Validation(errors) => errors.clone(),
                _ => Vec::new(),
            },
        }
    }
}

/// Renders a problem for a bare status, used for rejections raised outside the handlers.
pub fn problem_response(
    status: StatusCode,
    code: &'static str,
    detail: impl Into<String>,
) -> Response {
    AppError::Status {
        status,
        code,
        detail: detail.into(),
    }
    .into_response()
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let Self::Internal(err) = &self {
            tracing::error!(error = ?err, "request failed");
        }
        let problem = self.problem();
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (self.status(), body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        match &self {
            Self::RateLimited { retry_after_secs } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            Self::Unavailable { .. } => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(UNAVAILABLE_RETRY_AFTER_SECS),
                );
            }
            Self::Unauthorized { .. } => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}

impl From<DbErr> for AppError {
    fn from(err: DbErr) -> Self {
        if database_unreachable(&err) {
            tracing::warn!(error = %err, "database unreachable");
            return AppError::unavailable("the database is unreachable; retry shortly");
        }
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(message)) => {
                AppError::conflict("already_exists", unique_violation_detail(&message))
            }
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => AppError::conflict(
                "still_referenced",
                "the record is referenced by other records",
            ),
            _ => AppError::Internal(err.into()),
        }
    }
}

/// Whether the database could not be reached at all (no connection, connection lost,
/// server shutting down), as opposed to a statement it refused.
pub(crate) fn database_unreachable(err: &DbErr) -> bool {
    use sea_orm::RuntimeErr;
    use sea_orm::sqlx::Error as SqlxError;
    let sqlx_err = match err {
        DbErr::ConnectionAcquire(_) => return true,
        DbErr::Conn(RuntimeErr::SqlxError(err))
        | DbErr::Exec(RuntimeErr::SqlxError(err))
        | DbErr::Query(RuntimeErr::SqlxError(err)) => err,
        _ => return false,
    };
    match sqlx_err {
        SqlxError::Io(_)
        | SqlxError::Tls(_)
        | SqlxError::PoolTimedOut
        | SqlxError::PoolClosed
        | SqlxError::WorkerCrashed => true,
        // PostgreSQL's classes 08 (connection exception) and 57P (shutdown, restart)
        SqlxError::Database(db_err) => db_err
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
        _ => false,
    }
}

/// Names the column of a unique violation without echoing the database's message.
fn unique_violation_detail(message: &str) -> String {
    for column in ["username", "email", "folder", "code", "name"] {
        if message.contains(column) {
            return format!("a record with this {column} already exists");
        }
    }
    "a record with these values already exists".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_hide_their_cause() {
        let problem = AppError::internal(anyhow::anyhow!("password=secret")).problem();
        assert_eq!(problem.status, 500);
        assert!(!problem.detail.contains("secret"));
        assert_eq!(problem.code, "internal_error");
    }

    #[test]
    fn validation_problem_lists_fields() {
        let problem = AppError::invalid("email", "is not an email address").problem();
        assert_eq!(problem.status, 422);
        assert_eq!(
            problem.errors,
            vec![FieldError::new("email", "is not an email address")]
        );
        assert_eq!(problem.kind, "urn:vitrine:problem:validation_failed");
    }

    #[test]
    fn an_unreachable_database_is_503_with_retry_after() {
        let lost = DbErr::Query(sea_orm::RuntimeErr::SqlxError(sea_orm::sqlx::Error::Io(
            std::io::Error::from(std::io::ErrorKind::ConnectionReset),
        )));
        let response = AppError::from(lost).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
        let timed_out = DbErr::ConnectionAcquire(sea_orm::error::ConnAcquireErr::Timeout);
        assert_eq!(AppError::from(timed_out).code(), "unavailable");
        let refused = DbErr::Custom("a statement the database refused".into());
        assert_eq!(AppError::from(refused).code(), "internal_error");
    }

    #[test]
    fn unique_violations_name_the_column_only() {
        assert_eq!(
            unique_violation_detail("UNIQUE constraint failed: users.email"),
            "a record with this email already exists"
        );
        assert_eq!(
            unique_violation_detail(
                "duplicate key value violates unique constraint \"users_username_lower_key\""
            ),
            "a record with this username already exists"
        );
    }
}
