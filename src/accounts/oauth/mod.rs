//! OAuth sign-in with Google (OpenID Connect) and Yandex: a redirect to the provider,
//! then a callback that trades the code for the provider's word on who the member is
//! and opens a session like a password sign-in does.

mod exchange;
mod flow_cookie;
mod google;
mod link;
mod web_flow;
mod yandex;

use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use oauth2::{CsrfToken, PkceCodeChallenge};
use sea_orm::TransactionTrait;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth_handlers::load_user;
use super::model::AuthResponse;
use super::sign_in::{self, ClientInfo};
use crate::auth::{ClientIp, UserAgent};
use crate::config::{Config, OAuthProviderConfig};
use crate::error::{AppError, AppResult, Problem};
use crate::extract::{Json, Path, Query};
use crate::state::AppState;

use exchange::ProviderClient;
use flow_cookie::{Flow, FlowCookies};

/// What the OAuth routes share between requests: one HTTP client for the providers,
/// Google's signing keys and the key of the flow cookie.
pub struct OAuthClients {
    http: reqwest::Client,
    jwks: google::JwksCache,
    cookies: FlowCookies,
}

impl OAuthClients {
    pub fn new(config: &Config) -> anyhow::Result<Self> {
        Ok(Self {
            // a provider that redirects is misbehaving; following it could leak the code
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(Duration::from_secs(5))
                .timeout(Duration::from_secs(10))
                .user_agent(concat!("vitrine/", env!("CARGO_PKG_VERSION")))
                .build()?,
            jwks: google::JwksCache::default(),
            cookies: FlowCookies::new(config.jwt_secret(), config.public_url())?,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Google,
    Yandex,
}

impl Provider {
    fn parse(name: &str) -> AppResult<Self> {
        match name {
            "google" => Ok(Self::Google),
            "yandex" => Ok(Self::Yandex),
            _ => Err(AppError::not_found(
                "unknown_provider",
                "no such sign-in provider; expected google or yandex",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Google => "google",
            Self::Yandex => "yandex",
        }
    }

    fn scopes(self) -> &'static [&'static str] {
        match self {
            Self::Google => &["openid", "email", "profile"],
            Self::Yandex => &["login:email", "login:info"],
        }
    }

    fn settings(self, config: &Config) -> &OAuthProviderConfig {
        match self {
            Self::Google => &config.google,
            Self::Yandex => &config.yandex,
        }
    }
}

/// What the provider sends back to the callback.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    /// The authorization code.
    pub code: Option<String>,
    /// Must equal the state sent by the start step.
    pub state: Option<String>,
    /// Set instead of `code` when the member refused or the provider failed.
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// `GET /auth/oauth/{provider}/start` parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StartQuery {
    /// `1` for the web app: the callback then sets the refresh cookie of the cookie mode
    /// and sends the browser to `/`, or to `/signin?oauth_error={code}` on a failure.
    pub web: Option<String>,
}

/// Sends the browser to the provider's sign-in page.
#[utoipa::path(
    get,
    path = "/api/v1/auth/oauth/{provider}/start",
    tag = "auth",
    params(("provider" = String, Path, description = "`google` or `yandex`", pattern = "^(google|yandex)$"), StartQuery),
    responses(
        (status = 302, description = "to the provider's sign-in page; sets a short-lived \
            cookie that the callback needs"),
        (status = 404, description = "unknown or disabled provider", body = Problem),
    )
)]
pub async fn start(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    Query(query): Query<StartQuery>,
) -> AppResult<Response> {
    let provider = Provider::parse(&provider)?;
    let client = ProviderClient::new(&state.config, provider)?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let nonce = (provider == Provider::Google).then(|| CsrfToken::new_random().into_secret());
    let (url, csrf_state) = client.authorize_url(challenge, nonce.as_deref());
    let cookie = state.oauth.cookies.seal(Flow {
        provider: provider.as_str().to_owned(),
        state: csrf_state.into_secret(),
        verifier: verifier.into_secret(),
        nonce,
        web: query.web.as_deref() == Some("1"),
    })?;
    let location = HeaderValue::try_from(url.as_str()).map_err(AppError::internal)?;
    Ok((
        StatusCode::FOUND,
        [
            (header::LOCATION, location),
            (header::SET_COOKIE, cookie),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
    )
        .into_response())
}

/// Where the provider sends the browser back: checks the state, trades the code, finds
/// or creates the account and signs it in.
#[utoipa::path(
    get,
    path = "/api/v1/auth/oauth/{provider}/callback",
    tag = "auth",
    params(("provider" = String, Path, description = "`google` or `yandex`", pattern = "^(google|yandex)$"), CallbackQuery),
    responses(
        (status = 200, body = AuthResponse),
        (status = 303, description = "a sign-in started with `web=1`: to `/` with the refresh \
            cookie set, or to `/signin?oauth_error={code}`"),
        (status = 400, description = "refused at the provider, or a missing or wrong state",
            body = Problem),
        (status = 401, description = "the provider did not confirm the sign-in", body = Problem),
        (status = 403, description = "account deactivated", body = Problem),
        (status = 404, description = "unknown or disabled provider", body = Problem),
        (status = 409, description = "the email belongs to an account and is not verified \
            at the provider", body = Problem),
        (status = 422, description = "the provider gave no usable email", body = Problem),
        (status = 502, description = "the provider failed or could not be reached",
            body = Problem),
    )
)]
pub async fn callback(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    ClientIp(ip): ClientIp,
    UserAgent(user_agent): UserAgent,
    jar: CookieJar,
    Query(query): Query<CallbackQuery>,
) -> AppResult<Response> {
    let provider = Provider::parse(&provider)?;
    let client = ProviderClient::new(&state.config, provider)?;
    let info = ClientInfo {
        ip: Some(ip.to_string()),
        user_agent,
    };
    let web = state.oauth.cookies.open(&jar).is_ok_and(|flow| flow.web);
    let outcome = finish(&state, &client, &jar, query, info).await;
    if web {
        return Ok(web_flow::back_to_the_app(&state, outcome));
    }
    // the flow cookie serves one attempt, whatever its outcome
    Ok((
        [
            (header::SET_COOKIE, state.oauth.cookies.removal()),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        outcome,
    )
        .into_response())
}

async fn finish(
    state: &AppState,
    client: &ProviderClient,
    jar: &CookieJar,
    query: CallbackQuery,
    info: ClientInfo,
) -> AppResult<Json<AuthResponse>> {
    let provider = client.provider();
    if let Some(error) = query.error {
        tracing::info!(
            provider = provider.as_str(),
            // Debug escapes whatever the query string holds
            error = ?error,
            description = ?query.error_description,
            "the provider refused the sign-in"
        );
        return Err(AppError::bad_request("oauth_denied", denied_detail(&error)));
    }
    let flow = state.oauth.cookies.open(jar)?;
    flow.check(provider, query.state.as_deref())?;
    let code = query
        .code
        .filter(|code| !code.is_empty())
        .ok_or_else(|| AppError::bad_request("missing_code", "the callback carries no code"))?;

    let tokens = client
        .exchange(&state.oauth.http, code, flow.verifier)
        .await?;
    let identity = match provider {
        Provider::Google => {
            google::identity(
                &state.oauth,
                provider.settings(&state.config),
                &tokens,
                flow.nonce.as_deref(),
            )
            .await?
        }
        Provider::Yandex => {
            yandex::identity(&state.oauth.http, provider.settings(&state.config), &tokens).await?
        }
    };

    let tx = state.db.begin().await?;
    let user = link::resolve(&tx, &identity).await?;
    let tokens = sign_in::start_session(&tx, state, &user, info).await?;
    tx.commit().await?;
    let user = load_user(state, user.user_id).await?;
    Ok(Json(AuthResponse { user, tokens }))
}

/// Names the provider's error code only when it looks like one, so the answer never
/// echoes arbitrary text from the query string.
fn denied_detail(error: &str) -> String {
    let is_code = !error.is_empty()
        && error.len() <= 64
        && error.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    if is_code {
        format!("the sign-in was cancelled or refused at the provider ({error})")
    } else {
        "the sign-in was cancelled or refused at the provider".to_owned()
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(web_flow::providers))
        .routes(routes!(start))
        .routes(routes!(callback))
}
