//! Google's OpenID Connect ID token, checked against the keys Google publishes (JWKS).

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Deserializer};
use subtle::ConstantTimeEq;

use super::exchange::{ProviderTokens, fetch_json, oauth_failed, provider_unavailable};
use super::link::ProviderIdentity;
use super::{OAuthClients, Provider};
use crate::config::OAuthProviderConfig;
use crate::error::AppResult;

/// Google rotates its keys every few weeks; an hour keeps removed keys from lingering.
const JWKS_MAX_AGE: Duration = Duration::from_secs(3600);
/// Google's issuer, which its tokens also spell without the scheme.
const GOOGLE_ISSUER: &str = "https://accounts.google.com";
const GOOGLE_BARE_ISSUER: &str = "accounts.google.com";

/// The provider's signing keys by `kid`, kept between sign-ins.
#[derive(Default)]
pub struct JwksCache {
    keys: RwLock<Option<CachedKeys>>,
    /// One fetch at a time, so a burst of sign-ins after a rotation fetches once.
    fetching: tokio::sync::Mutex<()>,
}

struct CachedKeys {
    keys: HashMap<String, DecodingKey>,
    fetched_at: Instant,
}

impl JwksCache {
    fn cached(&self, kid: &str, fetched_after: Option<Instant>) -> Option<DecodingKey> {
        let guard = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        let cached = guard.as_ref()?;
        let fresh = cached.fetched_at.elapsed() < JWKS_MAX_AGE
            && fetched_after.is_none_or(|after| cached.fetched_at >= after);
        fresh.then(|| cached.keys.get(kid).cloned()).flatten()
    }

    /// The key for `kid`: from the cache, or after one fetch of the key set.
    async fn key(&self, http: &reqwest::Client, url: &str, kid: &str) -> AppResult<DecodingKey> {
        if let Some(key) = self.cached(kid, None) {
            return Ok(key);
        }
        let asked_at = Instant::now();
        let _fetching = self.fetching.lock().await;
        // another sign-in may have fetched the keys while this one waited
        if let Some(key) = self.cached(kid, Some(asked_at)) {
            return Ok(key);
        }
        let keys = fetch_keys(http, url).await?;
        let key = keys.get(kid).cloned();
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Some(CachedKeys {
            keys,
            fetched_at: Instant::now(),
        });
        key.ok_or_else(|| {
            tracing::warn!(
                kid,
                "the ID token names a key the provider does not publish"
            );
            invalid_id_token()
        })
    }
}

#[derive(Deserialize)]
struct JwkSet {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kid: Option<String>,
    kty: String,
    #[serde(rename = "use")]
    usage: Option<String>,
    alg: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

async fn fetch_keys(http: &reqwest::Client, url: &str) -> AppResult<HashMap<String, DecodingKey>> {
    let set: JwkSet = fetch_json(Provider::Google, "JWKS", http.get(url))
        .await?
        .map_err(|status| {
            tracing::warn!(%status, "the JWKS endpoint refused the request");
            provider_unavailable(Provider::Google)
        })?;
    // only RSA signing keys; anything else cannot have signed an RS256 token
    let keys: HashMap<_, _> = set
        .keys
        .into_iter()
        .filter(|jwk| jwk.kty == "RSA" && jwk.usage.as_deref().is_none_or(|usage| usage == "sig"))
        .filter(|jwk| jwk.alg.as_deref().is_none_or(|alg| alg == "RS256"))
        .filter_map(|jwk| {
            let key = DecodingKey::from_rsa_components(jwk.n.as_deref()?, jwk.e.as_deref()?);
            Some((jwk.kid?, key.ok()?))
        })
        .collect();
    tracing::info!(keys = keys.len(), "fetched the provider's signing keys");
    Ok(keys)
}

#[derive(Deserialize)]
struct IdClaims {
    sub: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    email_verified: bool,
    #[serde(default)]
    nonce: Option<String>,
    /// The client the token was issued to, when the audience lists several.
    #[serde(default)]
    azp: Option<String>,
}

/// Older Google tokens carried `email_verified` as the string `"true"`.
fn lenient_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum BoolOrText {
        Bool(bool),
        Text(String),
    }
    Ok(match Option::<BoolOrText>::deserialize(deserializer)? {
        Some(BoolOrText::Bool(value)) => value,
        Some(BoolOrText::Text(text)) => text.eq_ignore_ascii_case("true"),
        None => false,
    })
}

fn invalid_id_token() -> crate::error::AppError {
    oauth_failed("the provider's ID token could not be verified")
}

/// Who the member is, per the ID token of the token answer: signed by a key Google
/// publishes, issued by Google to this client, unexpired and bound to this attempt's
/// nonce.
pub async fn identity(
    clients: &OAuthClients,
    settings: &OAuthProviderConfig,
    tokens: &ProviderTokens,
    expected_nonce: Option<&str>,
) -> AppResult<ProviderIdentity> {
    let id_token = tokens.extra_fields().id_token.as_deref().ok_or_else(|| {
        tracing::warn!("the token answer holds no ID token");
        oauth_failed("the provider sent no ID token")
    })?;
    let header = jsonwebtoken::decode_header(id_token).map_err(|_| invalid_id_token())?;
    if header.alg != Algorithm::RS256 {
        tracing::warn!(alg = ?header.alg, "the ID token is not RS256");
        return Err(invalid_id_token());
    }
    let kid = header.kid.ok_or_else(invalid_id_token)?;
    let key = clients
        .jwks
        .key(&clients.http, &settings.jwks_url, &kid)
        .await?;

    let client_id = settings.client_id.as_deref().unwrap_or_default();
    let mut issuers = vec![settings.issuer.as_str()];
    if settings.issuer == GOOGLE_ISSUER {
        issuers.push(GOOGLE_BARE_ISSUER);
    }
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[client_id]);
    validation.set_issuer(&issuers);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<IdClaims>(id_token, &key, &validation)
        .map_err(|err| {
            tracing::warn!(error = %err, "the ID token was refused");
            invalid_id_token()
        })?
        .claims;

    if claims.azp.as_deref().is_some_and(|azp| azp != client_id) {
        tracing::warn!("the ID token was issued to another client");
        return Err(invalid_id_token());
    }
    let nonce_matches = match (expected_nonce, claims.nonce.as_deref()) {
        (Some(expected), Some(got)) => expected.as_bytes().ct_eq(got.as_bytes()).into(),
        _ => false,
    };
    if !nonce_matches {
        tracing::warn!("the ID token's nonce does not match this sign-in attempt");
        return Err(invalid_id_token());
    }
    Ok(ProviderIdentity {
        provider: Provider::Google,
        subject: claims.sub,
        email: claims.email,
        email_verified: claims.email_verified,
        login: None,
    })
}
