//! Serving a file's bytes: access rules, conditional requests, byte ranges and the
//! headers a browser or download manager expects.

use std::io::SeekFrom;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::entity;
use super::links::{self, LinkProblem};
use super::model::{DownloadQuery, Visibility};
use crate::auth::{CurrentUser, Role};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Read size for local files: large reads keep system calls few.
const READ_CHUNK: usize = 256 * 1024;
/// Answers up to this size are sent from a memory map of the blob: no copy through a
/// buffer of ours and one trip to the blocking pool instead of one per chunk.
const MAP_LIMIT: u64 = 4 * 1024 * 1024;

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

/// May the caller read this file? Owners, admins, anyone for public files, and holders
/// of a valid signed link. Others learn nothing about private files: a wrong signature
/// gets the same 404 as a file that does not exist; only a genuine link is told that it
/// expired.
pub fn check_read_access(
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
    if let (Some(expires), Some(signature)) = (query.expires, query.signature.as_deref()) {
        return links::verify(
            state.config.jwt_secret(),
            &file.uid,
            expires,
            signature,
            Utc::now().timestamp(),
        )
        .map_err(|problem| match problem {
            LinkProblem::Expired => AppError::Forbidden {
                code: "link_expired",
                detail: "this link has expired".to_owned(),
            },
            // answered as a missing file is, so a forged link learns nothing
            LinkProblem::Invalid => not_found(),
        });
    }
    Err(not_found())
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

    let range = match requested_range(request_headers, blob.size) {
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
    let body = read_body(state, &blob.key, start, length).await?;
    Ok((status, headers, body).into_response())
}

/// A local blob ready to send: small ones mapped whole, larger ones streamed from the file.
enum LocalBlob {
    Mapped(bytes::Bytes),
    Open(std::fs::File),
}

async fn read_body(state: &AppState, key: &str, start: u64, length: u64) -> AppResult<Body> {
    if length == 0 {
        return Ok(Body::empty());
    }
    if let Some(path) = state.storage.local_path(key) {
        let key = key.to_owned();
        let opened = tokio::task::spawn_blocking(move || -> AppResult<LocalBlob> {
            let file = open_blob(&path, &key, start + length)?;
            if length > MAP_LIMIT {
                return Ok(LocalBlob::Open(file));
            }
            // SAFETY: blobs are written once under a fresh key (a staged file renamed into
            // place) and only ever unlinked, never truncated or rewritten, and the file was
            // just checked to be long enough, so the mapping stays valid while it lives.
            let map = unsafe {
                memmap2::MmapOptions::new()
                    .offset(start)
                    .len(length as usize)
                    .populate()
                    .map(&file)
            }
            .map_err(AppError::internal)?;
            Ok(LocalBlob::Mapped(bytes::Bytes::from_owner(map)))
        })
        .await
        .map_err(AppError::internal)?;
        let file = match opened? {
            LocalBlob::Mapped(bytes) => return Ok(Body::from(bytes)),
            LocalBlob::Open(file) => file,
        };
        let mut file = tokio::fs::File::from_std(file);
        if start > 0 {
            file.seek(SeekFrom::Start(start))
                .await
                .map_err(AppError::internal)?;
        }
        let reader = file.take(length);
        return Ok(Body::from_stream(ReaderStream::with_capacity(
            reader, READ_CHUNK,
        )));
    }
    let options = GetOptions {
        range: Some(GetRange::Bounded(start..start + length)),
        ..GetOptions::default()
    };
    let result = state
        .storage
        .store()
        .get_opts(&ObjectPath::from(key), options)
        .await
        .map_err(AppError::internal)?;
    Ok(Body::from_stream(
        result.into_stream().map_err(std::io::Error::other),
    ))
}

/// Opens a local blob that must hold at least `needed` bytes.
fn open_blob(path: &std::path::Path, key: &str, needed: u64) -> AppResult<std::fs::File> {
    let file = std::fs::File::open(path).map_err(|err| {
        if err.kind() == std::io::ErrorKind::NotFound {
            tracing::error!(key, "a file row points at a missing blob");
        }
        AppError::internal(err)
    })?;
    let size = file.metadata().map_err(AppError::internal)?.len();
    if size < needed {
        tracing::error!(
            key,
            size,
            needed,
            "a blob is shorter than its file row says"
        );
        return Err(AppError::internal(anyhow::anyhow!(
            "blob {key} is truncated"
        )));
    }
    Ok(file)
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

/// What a `Range` header asks of a representation of `size` bytes (RFC 9110 §14).
#[derive(Debug, PartialEq, Eq)]
enum RangeAnswer {
    /// No range, or one this server ignores: the whole file, 200.
    Whole,
    /// One satisfiable range, first and last byte included: 206.
    Part(u64, u64),
    /// Valid, but no range overlaps the representation: 416.
    Unsatisfiable,
}

/// A `Range` of bytes in one piece. A syntactically invalid header is ignored, as
/// RFC 9110 §14.2 allows; so are several satisfiable ranges (no multipart answers).
fn requested_range(headers: &HeaderMap, size: u64) -> RangeAnswer {
    let Some(value) = headers.get(header::RANGE) else {
        return RangeAnswer::Whole;
    };
    let Some(specs) = value.to_str().ok().and_then(parse_byte_ranges) else {
        return RangeAnswer::Whole;
    };
    let mut satisfiable = specs.into_iter().filter_map(|spec| spec.resolve(size));
    match (satisfiable.next(), satisfiable.next()) {
        (None, _) => RangeAnswer::Unsatisfiable,
        (Some((first, last)), None) => RangeAnswer::Part(first, last),
        (Some(_), Some(_)) => RangeAnswer::Whole,
    }
}

/// One `range-spec`.
#[derive(Debug, PartialEq, Eq)]
enum ByteRange {
    /// `first-` or `first-last`.
    From { first: u64, last: Option<u64> },
    /// `-length`: the last `length` bytes.
    Suffix(u64),
}

impl ByteRange {
    /// The bytes selected from a representation of `size` bytes, if any.
    fn resolve(&self, size: u64) -> Option<(u64, u64)> {
        let end = size.checked_sub(1)?;
        match *self {
            Self::From { first, last } => {
                (first <= end).then(|| (first, last.unwrap_or(end).min(end)))
            }
            // a suffix longer than the representation selects all of it
            Self::Suffix(length) => (length > 0).then(|| (size.saturating_sub(length), end)),
        }
    }
}

/// `bytes=` followed by a comma-separated list of range specs; `None` when malformed.
fn parse_byte_ranges(value: &str) -> Option<Vec<ByteRange>> {
    let (unit, set) = value.trim().split_once('=')?;
    if !unit.eq_ignore_ascii_case("bytes") {
        return None;
    }
    let specs: Vec<ByteRange> = set
        .split(',')
        .map(|spec| spec.trim_matches([' ', '\t']))
        // a list may hold empty elements (RFC 9110 §5.6.1)
        .filter(|spec| !spec.is_empty())
        .map(parse_byte_range)
        .collect::<Option<_>>()?;
    (!specs.is_empty()).then_some(specs)
}

fn parse_byte_range(spec: &str) -> Option<ByteRange> {
    let (first, last) = spec.split_once('-')?;
    if first.is_empty() {
        return Some(ByteRange::Suffix(parse_position(last)?));
    }
    let first = parse_position(first)?;
    let last = match last {
        "" => None,
        last => Some(parse_position(last)?),
    };
    if last.is_some_and(|last| last < first) {
        return None;
    }
    Some(ByteRange::From { first, last })
}

/// Digits only; a number too large for u64 is as good as infinite.
fn parse_position(digits: &str) -> Option<u64> {
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    Some(digits.parse().unwrap_or(u64::MAX))
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

    fn with_range(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::RANGE, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn ranges() {
        use RangeAnswer::{Part, Unsatisfiable, Whole};
        let cases = [
            ("bytes=0-9", Part(0, 9)),
            ("bytes=90-", Part(90, 99)),
            ("bytes=0-", Part(0, 99)),
            ("bytes=-10", Part(90, 99)),
            ("bytes=50-500", Part(50, 99)),
            ("bytes=99-99", Part(99, 99)),
            // a suffix longer than the file selects all of it
            ("bytes=-100", Part(0, 99)),
            ("bytes=-101", Part(0, 99)),
            ("bytes=-99999999999999999999999", Part(0, 99)),
            ("bytes=0-99999999999999999999999", Part(0, 99)),
            ("Bytes=0-9", Part(0, 9)),
            (" bytes=0-9 ", Part(0, 9)),
            ("bytes=0-9 , ", Part(0, 9)),
            // one satisfiable range among unsatisfiable ones
            ("bytes=200-300, 5-6", Part(5, 6)),
            ("bytes=100-", Unsatisfiable),
            ("bytes=100-200", Unsatisfiable),
            ("bytes=-0", Unsatisfiable),
            ("bytes=99999999999999999999999-", Unsatisfiable),
            ("bytes=200-300,400-", Unsatisfiable),
            // several satisfiable ranges: the whole file
            ("bytes=0-1,5-6", Whole),
            ("bytes=0-1, 5-6", Whole),
            // malformed: ignored
            ("bytes=-", Whole),
            ("bytes=5-3", Whole),
            ("bytes=0-1,5-3", Whole),
            ("bytes=", Whole),
            ("bytes=,", Whole),
            ("bytes=a-b", Whole),
            ("bytes=+1-2", Whole),
            ("bytes=0 - 9", Whole),
            ("bytes=1-2-3", Whole),
            ("bytes 0-9", Whole),
            ("pages=1-2", Whole),
            ("bytes=--5", Whole),
        ];
        for (value, expected) in cases {
            assert_eq!(
                requested_range(&with_range(value), 100),
                expected,
                "{value}"
            );
        }
        assert_eq!(requested_range(&HeaderMap::new(), 100), Whole);
        assert_eq!(requested_range(&with_range("bytes=0-"), 0), Unsatisfiable);
        assert_eq!(requested_range(&with_range("bytes=-5"), 0), Unsatisfiable);
    }

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
