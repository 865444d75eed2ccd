//! Serving a file's bytes: access rules, conditional requests, byte ranges and the
//! headers a browser or download manager expects.

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::links::{self, LinkProblem};
use super::model::{DownloadQuery, Visibility};
use super::ranges::{RangeAnswer, if_range_holds, requested_range};
use super::{blob_body, entity};
use crate::auth::{CurrentUser, Role};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// RFC 5987 `attr-char`s stay; everything else is percent-encoded.
const FILENAME_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

pub fn not_found() -> AppError {
    AppError::not_found("file_not_found", "no such file")
}

/// May the caller read this file? Owners, admins, anyone for public files, holders of a
/// valid signed link, and members another domain grants the read (the messenger: the
/// participants of a chat the file was sent in). Others learn nothing about private
/// files: a wrong signature gets the same 404 as a file that does not exist; only a
/// genuine link is told that it expired.
pub async fn check_read_access(
    state: &AppState,
    file: &entity::Model,
    user: Option<&CurrentUser>,
    query: &DownloadQuery,
) -> AppResult<()> {
    if Visibility::parse(&file.visibility) == Some(Visibility::Public) {
        return Ok(());
    }
    if let Some(user) = user
        && (file.added_user == Some(user.user_id) || user.role == Role::Admin)
    {
        return Ok(());
    }
    let link = match (query.expires, query.signature.as_deref()) {
        (Some(expires), Some(signature)) => Some(links::verify(
            state.config.jwt_secret(),
            &file.uid,
            expires,
            signature,
            Utc::now().timestamp(),
        )),
        _ => None,
    };
    if link == Some(Ok(())) {
        return Ok(());
    }
    // the one check that needs the database, so it comes last
    if let Some(user) = user
        && state
            .file_read_grants
            .may_read(file.file_id, user.user_id)
            .await?
    {
        return Ok(());
    }
    match link {
        Some(Err(LinkProblem::Expired)) => Err(AppError::Forbidden {
            code: "link_expired",
            detail: "this link has expired".to_owned(),
        }),
        // answered as a missing file is, so a forged link learns nothing
        _ => Err(not_found()),
    }
}

/// The object to send: the file itself or one of its thumbnails.
pub struct Blob<'a> {
    pub key: String,
    pub size: u64,
    pub mime_type: &'a str,
    pub etag: String,
}

/// Answers a GET or HEAD for `blob` of `file`.
pub async fn respond(
    state: &AppState,
    method: &Method,
    request_headers: &HeaderMap,
    file: &entity::Model,
    blob: Blob<'_>,
    as_attachment: bool,
) -> AppResult<Response> {
    let etag = format!("\"{}\"", blob.etag);
    let last_modified = http_date(file.uploaded_at);
    let mut headers = HeaderMap::new();
    insert(&mut headers, header::ETAG, &etag);
    insert(&mut headers, header::LAST_MODIFIED, &last_modified);
    insert(&mut headers, header::ACCEPT_RANGES, "bytes");
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if file.visibility == "public" {
            "public, max-age=86400"
        } else {
            "private, no-cache"
        }),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );

    if not_modified(request_headers, &etag, file.uploaded_at) {
        return Ok((StatusCode::NOT_MODIFIED, headers).into_response());
    }

    let range = if if_range_holds(request_headers, &etag, &last_modified) {
        requested_range(request_headers, blob.size)
    } else {
        RangeAnswer::Whole
    };
    let range = match range {
        RangeAnswer::Whole => None,
        RangeAnswer::Part(first, last) => Some((first, last)),
        RangeAnswer::Unsatisfiable => {
            insert(
                &mut headers,
                header::CONTENT_RANGE,
                &format!("bytes */{}", blob.size),
            );
            let mut response = AppError::Status {
                status: StatusCode::RANGE_NOT_SATISFIABLE,
                code: "range_not_satisfiable",
                detail: format!("the file has {} bytes", blob.size),
            }
            .into_response();
            response.headers_mut().extend(headers);
            return Ok(response);
        }
    };
    insert(&mut headers, header::CONTENT_TYPE, blob.mime_type);
    insert(
        &mut headers,
        header::CONTENT_DISPOSITION,
        &content_disposition(&file.original_name, as_attachment),
    );
    let (status, start, length) = match range {
        Some((start, end)) => {
            insert(
                &mut headers,
                header::CONTENT_RANGE,
                &format!("bytes {start}-{end}/{}", blob.size),
            );
            (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
        }
        None => (StatusCode::OK, 0, blob.size),
    };
    insert(&mut headers, header::CONTENT_LENGTH, &length.to_string());

    if method == Method::HEAD {
        return Ok((status, headers).into_response());
    }
    if state.storage.redirects_downloads() && range.is_none() {
        if let Some(url) = state
            .storage
            .presigned_get(&blob.key, std::time::Duration::from_secs(300))
            .await
            .map_err(AppError::internal)?
        {
            return Ok((
                StatusCode::TEMPORARY_REDIRECT,
                [(header::LOCATION, url.to_string())],
            )
                .into_response());
        }
    }
    let body = blob_body::read_body(state, &blob, start, length).await?;
    Ok((status, headers, body).into_response())
}

fn insert(headers: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

/// `If-None-Match` wins over `If-Modified-Since` (RFC 9110 §13.2.2).
fn not_modified(headers: &HeaderMap, etag: &str, modified: DateTime<Utc>) -> bool {
    if let Some(value) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    {
        return value
            .split(',')
            .map(|tag| tag.trim().trim_start_matches("W/"))
            .any(|tag| tag == "*" || tag == etag);
    }
    headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| DateTime::parse_from_rfc2822(&v.replace("GMT", "+0000")).ok())
        .is_some_and(|since| modified.timestamp() <= since.timestamp())
}

fn http_date(at: DateTime<Utc>) -> String {
    at.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// RFC 6266: an ASCII fallback name plus the exact UTF-8 name.
fn content_disposition(name: &str, as_attachment: bool) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "{}; filename=\"{}\"; filename*=UTF-8''{}",
        if as_attachment {
            "attachment"
        } else {
            "inline"
        },
        fallback,
        utf8_percent_encode(name, FILENAME_ENCODE)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disposition_keeps_utf8_names() {
        assert_eq!(
            content_disposition("Полёт 3133.jpg", false),
            "inline; filename=\"_____ 3133.jpg\"; filename*=UTF-8''%D0%9F%D0%BE%D0%BB%D1%91%D1%82%203133.jpg"
        );
        assert!(
            content_disposition("a\"b.txt", true).starts_with("attachment; filename=\"a_b.txt\"")
        );
    }

    #[test]
    fn conditional_requests() {
        let modified: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"abc\", \"def\""),
        );
        assert!(not_modified(&headers, "\"def\"", modified));
        assert!(!not_modified(&headers, "\"xyz\"", modified));
        let mut headers = HeaderMap::new();
        headers.insert(
            header::IF_MODIFIED_SINCE,
            HeaderValue::from_str(&http_date(modified)).unwrap(),
        );
        assert!(not_modified(&headers, "\"xyz\"", modified));
        assert!(!not_modified(
            &headers,
            "\"xyz\"",
            modified + chrono::Duration::seconds(5)
        ));
    }
}
