//! Yandex ID: who the member is, asked of the user-info endpoint with the access token.

use oauth2::TokenResponse;
use reqwest::header::AUTHORIZATION;
use serde::{Deserialize, Deserializer};

use super::Provider;
use super::exchange::{ProviderTokens, fetch_json, oauth_failed};
use super::link::ProviderIdentity;
use crate::config::OAuthProviderConfig;
use crate::error::AppResult;

#[derive(Deserialize)]
struct YandexUser {
    #[serde(deserialize_with = "text_or_number")]
    id: String,
    #[serde(default)]
    login: Option<String>,
    #[serde(default)]
    default_email: Option<String>,
    #[serde(default)]
    emails: Vec<String>,
}

/// The id is documented as a string; a number is taken too.
fn text_or_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Text(String),
        Number(u64),
    }
    Ok(match Id::deserialize(deserializer)? {
        Id::Text(text) => text,
        Id::Number(number) => number.to_string(),
    })
}

pub async fn identity(
    http: &reqwest::Client,
    settings: &OAuthProviderConfig,
    tokens: &ProviderTokens,
) -> AppResult<ProviderIdentity> {
    let request = http.get(&settings.userinfo_url).header(
        AUTHORIZATION,
        format!("OAuth {}", tokens.access_token().secret()),
    );
    let user: YandexUser = fetch_json(Provider::Yandex, "user info", request)
        .await?
        .map_err(|status| {
            tracing::warn!(%status, "the user-info endpoint refused the access token");
            oauth_failed("the provider did not confirm who signed in")
        })?;
    if user.id.trim().is_empty() {
        return Err(oauth_failed("the provider did not say who signed in"));
    }
    // Yandex lists confirmed addresses only, so its email counts as verified
    let email = user
        .default_email
        .filter(|email| !email.trim().is_empty())
        .or_else(|| {
            user.emails
                .into_iter()
                .find(|email| !email.trim().is_empty())
        });
    Ok(ProviderIdentity {
        provider: Provider::Yandex,
        subject: user.id,
        email_verified: email.is_some(),
        email,
        login: user.login,
    })
}
