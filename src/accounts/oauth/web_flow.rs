//! The web app's OAuth sign-in: which providers to offer, and a callback that lands the
//! browser back in the app, signed in by the refresh cookie, instead of answering JSON.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::Provider;
use crate::accounts::model::AuthResponse;
use crate::accounts::refresh_cookie::RefreshCookie;
use crate::error::AppResult;
use crate::extract::Json;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct ProvidersResponse {
    /// The enabled providers, among `google` and `yandex`.
    pub providers: Vec<&'static str>,
}

/// The sign-in providers this server has enabled, for a sign-in page's buttons.
#[utoipa::path(
    get,
    path = "/api/v1/auth/oauth/providers",
    tag = "auth",
    responses((status = 200, body = ProvidersResponse))
)]
pub async fn providers(State(state): State<AppState>) -> Json<ProvidersResponse> {
    let providers = [Provider::Google, Provider::Yandex]
        .into_iter()
        .filter(|provider| provider.settings(&state.config).is_enabled())
        .map(Provider::as_str)
        .collect();
    Json(ProvidersResponse { providers })
}

/// 303 to `/` with the refresh cookie, or to the sign-in page with the problem's code.
pub fn back_to_the_app(state: &AppState, outcome: AppResult<Json<AuthResponse>>) -> Response {
    let mut cookies = vec![(header::SET_COOKIE, state.oauth.cookies.removal())];
    let location = match outcome {
        Ok(Json(mut answer)) => {
            cookies.extend(RefreshCookie::for_web_app(state).take_token(&mut answer.tokens));
            "/".to_owned()
        }
        Err(err) => {
            if err.status().is_server_error() {
                tracing::warn!(error = %err, "OAuth sign-in for the web app failed");
            }
            format!("/signin?oauth_error={}", err.code())
        }
    };
    let location = HeaderValue::try_from(location)
        .unwrap_or_else(|_| HeaderValue::from_static("/signin?oauth_error=internal_error"));
    (
        StatusCode::SEE_OTHER,
        AppendHeaders(cookies),
        [
            (header::LOCATION, location),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
    )
        .into_response()
}
