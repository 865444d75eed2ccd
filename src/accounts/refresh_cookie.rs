//! The cookie mode of sign-in, refresh and sign-out, for the web app: with the header
//! `X-Refresh-Cookie: 1` the refresh token travels in an HttpOnly, SameSite=Strict cookie
//! scoped to the refresh path instead of the JSON body, so that no script can read it.
//!
//! The refresh endpoint is the only one a cookie authenticates. A browser sends a custom
//! header to another site only after a CORS preflight that vitrine does not grant, so
//! demanding the header (and a same-host `Origin` when there is one) keeps other sites
//! from spending the cookie.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum_extra::extract::cookie::CookieJar;

use super::model::TokenResponse;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

pub const MODE_HEADER: &str = "x-refresh-cookie";
pub const COOKIE_NAME: &str = "vitrine_refresh";
/// The cookie goes to the refresh endpoint and nowhere else.
pub const COOKIE_PATH: &str = "/api/v1/auth/refresh";

/// Whether a request asked for the cookie mode, and how to write the cookie for it.
#[derive(Debug, Clone)]
pub struct RefreshCookie {
    pub enabled: bool,
    secure: bool,
    max_age_secs: u64,
}

impl FromRequestParts<AppState> for RefreshCookie {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> AppResult<Self> {
        let enabled = parts
            .headers
            .get(MODE_HEADER)
            .is_some_and(|value| value.as_bytes() == b"1");
        if enabled && !same_host_origin(&parts.headers) {
            return Err(cross_site());
        }
        let forwarded_https = parts
            .headers
            .get("x-forwarded-proto")
            .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"https"));
        Ok(Self {
            enabled,
            secure: forwarded_https || state.config.public_url().starts_with("https://"),
            max_age_secs: state.config.refresh_token_ttl_secs,
        })
    }
}

impl RefreshCookie {
    /// The cookie mode for a sign-in that is the web app's by how it began (OAuth).
    pub fn for_web_app(state: &AppState) -> Self {
        Self {
            enabled: true,
            secure: state.config.public_url().starts_with("https://"),
            max_age_secs: state.config.refresh_token_ttl_secs,
        }
    }

    /// In cookie mode, moves the refresh token out of the answer into a `Set-Cookie`.
    pub fn take_token(&self, tokens: &mut TokenResponse) -> Option<(HeaderName, HeaderValue)> {
        if !self.enabled {
            return None;
        }
        let token = std::mem::take(&mut tokens.refresh_token);
        self.set_cookie(&token, self.max_age_secs)
    }

    /// In cookie mode, the `Set-Cookie` that deletes the cookie.
    pub fn removal(&self) -> Option<(HeaderName, HeaderValue)> {
        self.enabled.then(|| self.set_cookie("", 0)).flatten()
    }

    /// The refresh token a request presents: from the cookie in cookie mode, else from
    /// the body. A cookie without the mode's header is refused: it may come from a form
    /// on another site.
    pub fn presented_token(
        &self,
        jar: &CookieJar,
        from_body: Option<String>,
    ) -> AppResult<Option<String>> {
        let from_cookie = jar
            .get(COOKIE_NAME)
            .map(|cookie| cookie.value().to_owned())
            .filter(|value| !value.is_empty());
        if self.enabled {
            return Ok(from_cookie);
        }
        match from_body {
            Some(token) => Ok(Some(token)),
            None if from_cookie.is_some() => Err(AppError::Forbidden {
                code: "refresh_cookie_header_missing",
                detail: format!("a refresh by cookie needs the header `{MODE_HEADER}: 1`"),
            }),
            None => Err(AppError::invalid("refresh_token", "is required")),
        }
    }

    fn set_cookie(&self, value: &str, max_age: u64) -> Option<(HeaderName, HeaderValue)> {
        let secure = if self.secure { "; Secure" } else { "" };
        let cookie = format!(
            "{COOKIE_NAME}={value}; Path={COOKIE_PATH}; Max-Age={max_age}; HttpOnly; \
             SameSite=Strict{secure}"
        );
        HeaderValue::try_from(cookie)
            .ok()
            .map(|value| (header::SET_COOKIE, value))
    }
}

fn cross_site() -> AppError {
    AppError::Forbidden {
        code: "cross_origin_request",
        detail: "the cookie mode is only for pages of this site".to_owned(),
    }
}

/// No `Origin` (same-origin GETs, non-browser clients) or one naming the host asked.
fn same_host_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|origin| origin.split_once("://"))
        .map(|(_, rest)| rest);
    matches!((origin_host, host), (Some(origin), Some(host)) if origin.eq_ignore_ascii_case(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| {
                (
                    HeaderName::from_static(name),
                    HeaderValue::from_static(value),
                )
            })
            .collect()
    }

    #[test]
    fn only_an_origin_of_the_same_host_passes() {
        assert!(same_host_origin(&headers(&[("host", "127.0.0.1:8080")])));
        assert!(same_host_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080"),
        ])));
        assert!(!same_host_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "https://evil.example"),
        ])));
        assert!(!same_host_origin(&headers(&[("origin", "null")])));
    }
}
