//! The OAuth 2 part both providers share: the authorization URL, the code exchange and
//! reading the providers' JSON answers, with their failures told apart.

use axum::http::StatusCode;
use oauth2::basic::{
    BasicErrorResponse, BasicErrorResponseType, BasicRevocationErrorResponse,
    BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    ExtraTokenFields, HttpClientError, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RequestTokenError, Scope, StandardRevocableToken, StandardTokenResponse, TokenUrl,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::Provider;
use crate::config::Config;
use crate::error::{AppError, AppResult};

/// Answers larger than this are not what a provider sends.
const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// The OpenID Connect `id_token` next to the OAuth fields of a token answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IdTokenField {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

impl ExtraTokenFields for IdTokenField {}

pub type ProviderTokens = StandardTokenResponse<IdTokenField, BasicTokenType>;

type OAuth2Client = oauth2::Client<
    BasicErrorResponse,
    ProviderTokens,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// A configured provider, ready to send members to and to trade codes with.
pub struct ProviderClient {
    provider: Provider,
    inner: OAuth2Client,
}

impl ProviderClient {
    /// Refuses providers without a client id and secret.
    pub fn new(config: &Config, provider: Provider) -> AppResult<Self> {
        let settings = provider.settings(config);
        let (Some(client_id), Some(client_secret)) = (&settings.client_id, &settings.client_secret)
        else {
            return Err(AppError::not_found(
                "provider_disabled",
                format!("sign-in with {} is not enabled", provider.as_str()),
            ));
        };
        let redirect_url = format!(
            "{}/api/v1/auth/oauth/{}/callback",
            config.public_url(),
            provider.as_str()
        );
        let misconfigured = |err: url::ParseError| {
            AppError::internal(anyhow::anyhow!(
                "the {} OAuth settings hold an invalid URL: {err}",
                provider.as_str()
            ))
        };
        let inner = oauth2::Client::new(ClientId::new(client_id.clone()))
            .set_client_secret(ClientSecret::new(client_secret.expose().to_owned()))
            .set_auth_uri(AuthUrl::new(settings.auth_url.clone()).map_err(misconfigured)?)
            .set_token_uri(TokenUrl::new(settings.token_url.clone()).map_err(misconfigured)?)
            .set_redirect_uri(RedirectUrl::new(redirect_url).map_err(misconfigured)?);
        Ok(Self { provider, inner })
    }

    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// The provider's sign-in page, with a fresh state, the PKCE challenge and the
    /// OpenID nonce when there is one.
    pub fn authorize_url(
        &self,
        challenge: PkceCodeChallenge,
        nonce: Option<&str>,
    ) -> (url::Url, CsrfToken) {
        let mut request = self
            .inner
            .authorize_url(CsrfToken::new_random)
            .set_pkce_challenge(challenge)
            .add_scopes(
                self.provider
                    .scopes()
                    .iter()
                    .map(|scope| Scope::new((*scope).to_owned())),
            );
        if let Some(nonce) = nonce {
            request = request.add_extra_param("nonce", nonce.to_owned());
        }
        request.url()
    }

    /// Trades the authorization code, with the PKCE verifier, for the provider's tokens.
    pub async fn exchange(
        &self,
        http: &reqwest::Client,
        code: String,
        verifier: String,
    ) -> AppResult<ProviderTokens> {
        self.inner
            .exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier))
            .request_async(http)
            .await
            .map_err(|err| token_error(self.provider, err))
    }
}

fn token_error(
    provider: Provider,
    err: RequestTokenError<HttpClientError<reqwest::Error>, BasicErrorResponse>,
) -> AppError {
    let provider_name = provider.as_str();
    match err {
        RequestTokenError::ServerResponse(answer) => {
            tracing::warn!(
                provider = provider_name,
                error = %answer.error(),
                description = answer.error_description().map(String::as_str).unwrap_or_default(),
                "the token endpoint refused the code"
            );
            match answer.error() {
                BasicErrorResponseType::Extension(code)
                    if matches!(code.as_str(), "server_error" | "temporarily_unavailable") =>
                {
                    provider_unavailable(provider)
                }
                _ => oauth_failed("the provider did not accept the authorization code"),
            }
        }
        RequestTokenError::Request(err) => {
            tracing::warn!(provider = provider_name, error = ?err, "the token endpoint is unreachable");
            provider_unavailable(provider)
        }
        RequestTokenError::Parse(err, _) => {
            tracing::warn!(provider = provider_name, error = %err, "the token answer is unreadable");
            provider_unavailable(provider)
        }
        RequestTokenError::Other(message) => {
            tracing::warn!(provider = provider_name, error = %message, "the token endpoint failed");
            provider_unavailable(provider)
        }
    }
}

/// The provider answered, but did not confirm who the member is.
pub fn oauth_failed(detail: impl Into<String>) -> AppError {
    AppError::unauthorized("oauth_failed", detail)
}

/// The provider could not be reached or failed on its side.
pub fn provider_unavailable(provider: Provider) -> AppError {
    AppError::Status {
        status: StatusCode::BAD_GATEWAY,
        code: "oauth_provider_error",
        detail: format!(
            "{} could not be reached or failed; try again later",
            provider.as_str()
        ),
    }
}

/// Sends a request to a provider and reads its JSON answer. A 4xx answer comes back as
/// `Err(status)` for the caller to judge; anything else that is not a readable 200 is
/// the provider's failure.
pub async fn fetch_json<T: DeserializeOwned>(
    provider: Provider,
    what: &'static str,
    request: reqwest::RequestBuilder,
) -> AppResult<Result<T, StatusCode>> {
    let unavailable = |detail: &dyn std::fmt::Display| {
        tracing::warn!(provider = provider.as_str(), what, error = %detail, "provider request failed");
        provider_unavailable(provider)
    };
    let mut response = request.send().await.map_err(|err| unavailable(&err))?;
    let status = response.status();
    if status.is_client_error() {
        return Ok(Err(status));
    }
    if status != StatusCode::OK {
        return Err(unavailable(&format_args!("status {status}")));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|err| unavailable(&err))? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(unavailable(&"the answer is too large"));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body)
        .map(Ok)
        .map_err(|err| unavailable(&err))
}
