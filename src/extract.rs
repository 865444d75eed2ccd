//! Request extractors whose rejections are problem+json, not axum's plain text.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{AppError, FieldError};

/// JSON body in and out.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Json(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        // into a `Vec`, which serde_json fills with plain copies; axum's writer into a
        // `BytesMut` reserved room for every fragment, a fifth of a profile's answer
        let mut body = Vec::with_capacity(512);
        match serde_json::to_writer(&mut body, &self.0) {
            Ok(()) => json_response(Bytes::from(body)),
            Err(err) => AppError::internal(err).into_response(),
        }
    }
}

/// An answer of JSON already serialized.
pub fn json_response(body: Bytes) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

fn json_rejection(rejection: JsonRejection) -> AppError {
    match rejection {
        JsonRejection::JsonDataError(err) => {
            // serde's message names the offending field and expected type, never server internals
            let message = std::error::Error::source(&err)
                .map(ToString::to_string)
                .unwrap_or_else(|| err.body_text());
            let (field, message) = split_serde_path(&message);
            AppError::Validation(vec![FieldError::new(field, message)])
        }
        JsonRejection::JsonSyntaxError(_) => {
            AppError::bad_request("malformed_json", "the request body is not valid JSON")
        }
        JsonRejection::MissingJsonContentType(_) => AppError::UnsupportedMediaType {
            detail: "expected `Content-Type: application/json`".to_owned(),
        },
        JsonRejection::BytesRejection(err) if err.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            AppError::PayloadTooLarge {
                detail: "the request body is too large".to_owned(),
            }
        }
        other => AppError::bad_request("unreadable_body", other.body_text()),
    }
}

/// serde_path_to_error renders `field.sub: message at line 1 column 5`.
fn split_serde_path(message: &str) -> (String, String) {
    let message = message
        .rsplit_once(" at line ")
        .map_or(message, |(head, _)| head);
    match message.split_once(": ") {
        Some((path, rest)) if !path.contains(' ') => (path.to_owned(), rest.to_owned()),
        _ => ("body".to_owned(), message.to_owned()),
    }
}

/// For `Option<Option<T>>` fields of partial updates: tells a field sent as `null`
/// (`Some(None)`) from one left out (`None`, with `#[serde(default)]`).
pub fn present<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Path parameters; a malformed one is a 400 (an unknown id is the handler's 404).
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Path(value))
            .map_err(|rejection: PathRejection| {
                AppError::bad_request("invalid_path", rejection.body_text())
            })
    }
}

/// Query string parameters; a malformed one is a 400.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| Query(value))
            .map_err(|rejection: QueryRejection| {
                AppError::bad_request("invalid_query", rejection.body_text())
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_paths_become_field_names() {
        assert_eq!(
            split_serde_path(
                "email: invalid type: integer `5`, expected a string at line 1 column 10"
            ),
            (
                "email".to_owned(),
                "invalid type: integer `5`, expected a string".to_owned()
            )
        );
        assert_eq!(
            split_serde_path("missing field `password` at line 1 column 2"),
            ("body".to_owned(), "missing field `password`".to_owned())
        );
    }
}
