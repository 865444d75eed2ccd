//! The short-lived cookie that carries one sign-in attempt from the start step to the
//! callback: the CSRF state, the PKCE verifier and the OpenID nonce. It is a signed JWT,
//! so the browser can hold it but not change it.

use axum::http::HeaderValue;
use axum_extra::extract::cookie::CookieJar;
use chrono::Utc;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::Provider;
use crate::error::{AppError, AppResult};

pub const COOKIE_NAME: &str = "vitrine_oauth";
/// Only the OAuth routes ever see the cookie.
pub const COOKIE_PATH: &str = "/api/v1/auth/oauth";
/// Time the member has to sign in at the provider.
const FLOW_TTL_SECS: i64 = 600;
const AUDIENCE: &str = "vitrine:oauth-flow";

/// One sign-in attempt.
#[derive(Debug, Serialize, Deserialize)]
pub struct Flow {
    pub provider: String,
    pub state: String,
    pub verifier: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// Started by the web app: the callback answers with a redirect back to it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub web: bool,
}

#[derive(Serialize, Deserialize)]
struct FlowClaims {
    aud: String,
    exp: i64,
    #[serde(flatten)]
    flow: Flow,
}

impl Flow {
    /// The attempt must be for this provider and the state must come back unchanged.
    pub fn check(&self, provider: Provider, state: Option<&str>) -> AppResult<()> {
        let state_matches: bool = state
            .map(|state| state.as_bytes().ct_eq(self.state.as_bytes()).into())
            .unwrap_or(false);
        if self.provider == provider.as_str() && state_matches {
            Ok(())
        } else {
            Err(invalid_state())
        }
    }
}

pub fn invalid_state() -> AppError {
    AppError::bad_request(
        "invalid_oauth_state",
        "the sign-in attempt is missing, expired or does not match; start again",
    )
}

pub struct FlowCookies {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    secure: bool,
}

impl FlowCookies {
    pub fn new(jwt_secret: &str, public_url: String) -> anyhow::Result<Self> {
        // a key of its own, so that an access token never passes for a flow cookie or back
        let mut mac = Hmac::<Sha256>::new_from_slice(jwt_secret.as_bytes())?;
        mac.update(b"vitrine oauth flow cookie");
        let key = mac.finalize().into_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "aud"]);
        Ok(Self {
            encoding: EncodingKey::from_secret(&key),
            decoding: DecodingKey::from_secret(&key),
            validation,
            secure: public_url.starts_with("https://"),
        })
    }

    /// The `Set-Cookie` value that starts an attempt.
    pub fn seal(&self, flow: Flow) -> AppResult<HeaderValue> {
        let claims = FlowClaims {
            aud: AUDIENCE.to_owned(),
            exp: Utc::now().timestamp() + FLOW_TTL_SECS,
            flow,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(AppError::internal)?;
        HeaderValue::try_from(self.cookie(&token, FLOW_TTL_SECS)).map_err(AppError::internal)
    }

    /// The attempt the browser brings back, if it is ours and still fresh.
    pub fn open(&self, jar: &CookieJar) -> AppResult<Flow> {
        let cookie = jar.get(COOKIE_NAME).ok_or_else(invalid_state)?;
        jsonwebtoken::decode::<FlowClaims>(cookie.value(), &self.decoding, &self.validation)
            .map(|data| data.claims.flow)
            .map_err(|err| {
                tracing::info!(error = %err, "OAuth flow cookie refused");
                invalid_state()
            })
    }

    /// The `Set-Cookie` value that ends an attempt.
    pub fn removal(&self) -> HeaderValue {
        HeaderValue::try_from(self.cookie("", 0))
            .unwrap_or_else(|_| HeaderValue::from_static("vitrine_oauth=; Max-Age=0"))
    }

    fn cookie(&self, value: &str, max_age: i64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!(
            "{COOKIE_NAME}={value}; Path={COOKIE_PATH}; Max-Age={max_age}; HttpOnly; \
             SameSite=Lax{secure}"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow() -> Flow {
        Flow {
            provider: "google".into(),
            state: "state-1".into(),
            verifier: "verifier".into(),
            nonce: Some("nonce".into()),
            web: false,
        }
    }

    fn jar_with(value: &str) -> CookieJar {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            axum::http::header::COOKIE,
            HeaderValue::try_from(format!("{COOKIE_NAME}={value}")).unwrap(),
        );
        CookieJar::from_headers(&headers)
    }

    fn cookie_value(set_cookie: &HeaderValue) -> String {
        let text = set_cookie.to_str().unwrap();
        let pair = text.split(';').next().unwrap();
        pair.split_once('=').unwrap().1.to_owned()
    }

    #[test]
    fn a_sealed_flow_opens_with_the_same_secret_only() {
        let cookies = FlowCookies::new("secret-one", "https://vitrine.example".into()).unwrap();
        let sealed = cookies.seal(flow()).unwrap();
        let text = sealed.to_str().unwrap();
        assert!(text.contains("; HttpOnly") && text.contains("SameSite=Lax"));
        assert!(text.contains("; Secure") && text.contains("Path=/api/v1/auth/oauth"));
        let value = cookie_value(&sealed);
        let opened = cookies.open(&jar_with(&value)).unwrap();
        assert_eq!(opened.state, "state-1");
        assert!(opened.check(Provider::Google, Some("state-1")).is_ok());
        assert!(opened.check(Provider::Yandex, Some("state-1")).is_err());
        assert!(opened.check(Provider::Google, Some("state-2")).is_err());
        assert!(opened.check(Provider::Google, None).is_err());

        let other = FlowCookies::new("secret-two", "http://localhost".into()).unwrap();
        assert!(other.open(&jar_with(&value)).is_err());
        assert!(!other.removal().to_str().unwrap().contains("Secure"));
    }

    #[test]
    fn access_tokens_are_not_flow_cookies() {
        let tokens = crate::auth::tokens::AccessTokens::new("secret-one", 60);
        let token = tokens.issue(1, crate::auth::Role::User, 1).unwrap();
        let cookies = FlowCookies::new("secret-one", "http://localhost".into()).unwrap();
        assert!(cookies.open(&jar_with(&token)).is_err());
    }
}
