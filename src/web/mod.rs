//! The web app: hand-written ES modules, CSS and translations from `web/`, embedded in
//! the binary and served at `/`. Static files live under `/assets/{hash}/…`, where the
//! hash covers every embedded file, so that relative module imports keep working and a
//! new build never meets a stale cache; the HTML shell is never cached.

mod assets;

use axum::Router;
use axum::extract::{Path, Request};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::error::problem_response;
use assets::Bundle;

/// The only sources the app's pages may load from: itself.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// `/` and the hashed static files. App paths such as `/watches/3` reach the shell
/// through [`fallback`].
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(shell))
        .route("/assets/{hash}/{*path}", get(asset))
}

/// Unknown paths: the app's shell for a browser asking for a page outside the API,
/// a problem for everything else (an unknown `/api` path stays a problem+json 404).
pub async fn fallback(request: Request) -> Response {
    let is_page_request = matches!(*request.method(), Method::GET | Method::HEAD)
        && !is_server_path(request.uri().path())
        && accepts_html(request.headers());
    if is_page_request {
        return shell().await;
    }
    problem_response(StatusCode::NOT_FOUND, "route_not_found", "no such route")
}

fn is_server_path(path: &str) -> bool {
    [
        "/api/",
        "/assets/",
        "/docs",
        "/openapi.json",
        "/healthz",
        "/readyz",
        "/metrics",
    ]
    .iter()
    .any(|prefix| path == prefix.trim_end_matches('/') || path.starts_with(prefix))
}

fn accepts_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.contains("text/html"))
}

async fn shell() -> Response {
    let Some(bundle) = Bundle::get() else {
        return problem_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "web_app_missing",
            "the web app is not part of this build",
        );
    };
    let mut response = (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        bundle.shell.clone(),
    )
        .into_response();
    add_page_headers(response.headers_mut());
    response
}

/// The headers every page of the app carries.
fn add_page_headers(headers: &mut HeaderMap) {
    let fixed = [
        ("content-security-policy", CONTENT_SECURITY_POLICY),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
        ("x-frame-options", "DENY"),
        ("cross-origin-opener-policy", "same-origin"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

async fn asset(Path((hash, path)): Path<(String, String)>) -> Response {
    let found = Bundle::get()
        .filter(|bundle| bundle.hash == hash)
        .and_then(|_| assets::file(&path));
    let Some((content_type, bytes)) = found else {
        // an old hash after an upgrade: the page reloads the shell and gets the new one
        return problem_response(StatusCode::NOT_FOUND, "asset_not_found", "no such asset");
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, IMMUTABLE),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_and_server_paths_are_not_pages() {
        for path in [
            "/api/v1/nope",
            "/api/",
            "/docs",
            "/docs/x",
            "/assets/1/a.js",
            "/metrics",
        ] {
            assert!(is_server_path(path), "{path}");
        }
        for path in ["/", "/watches/3", "/apidocs", "/signin"] {
            assert!(!is_server_path(path), "{path}");
        }
    }
}
