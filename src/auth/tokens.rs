//! Access tokens (short-lived JWTs, never stored) and opaque tokens (refresh, password
//! reset), of which only a SHA-256 digest is stored.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::DateTime;
use chrono::Utc;
use hmac::{Hmac, Mac};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::Role;
use crate::error::{AppError, AppResult};

/// Claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    /// The user id, as a string per RFC 7519.
    pub sub: String,
    pub role: Role,
    /// The session the token belongs to; revoking it ends the token at once.
    pub sid: i64,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
}

impl AccessClaims {
    pub fn user_id(&self) -> AppResult<i64> {
        self.sub
            .parse()
            .map_err(|_| AppError::unauthorized("invalid_token", "the access token is invalid"))
    }
}

#[derive(Clone)]
pub struct AccessTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl_secs: u64,
    /// Tokens whose signature was checked, with their claims. A client sends the same
    /// token with each request until it expires, and checking it again (base64, HMAC,
    /// JSON) was a fifth of the instructions of `GET /users/me`. Only valid tokens enter,
    /// so made-up ones cannot crowd it; expiry is checked at each use, and whether the
    /// session still stands is checked after this, as for a token checked afresh.
    verified: moka::sync::Cache<String, AccessClaims>,
}

/// Bytes of tokens and claims kept in [`AccessTokens::verified`].
const VERIFIED_BYTES: u64 = 4 * 1024 * 1024;
/// An entry's bytes beside its token: the claims and the cache's own keeping.
const VERIFIED_ENTRY_BYTES: u32 = 256;

impl AccessTokens {
    pub fn new(secret: &str, ttl_secs: u64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub", "iat"]);
        Self {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            validation,
            ttl_secs,
            verified: moka::sync::Cache::builder()
                .max_capacity(VERIFIED_BYTES)
                .weigher(|token: &String, _| {
                    u32::try_from(token.len())
                        .unwrap_or(u32::MAX)
                        .saturating_add(VERIFIED_ENTRY_BYTES)
                })
                // no token outlives its lifetime
                .time_to_live(std::time::Duration::from_secs(ttl_secs.max(1)))
                .build(),
        }
    }

    pub fn ttl_secs(&self) -> u64 {
        self.ttl_secs
    }

    pub fn issue(&self, user_id: i64, role: Role, session_id: i64) -> AppResult<String> {
        self.encode(
            user_id,
            role,
            session_id,
            Utc::now().timestamp(),
            Uuid::now_v7(),
        )
    }

    /// The access token that goes with a refresh token: issued when the refresh token
    /// was, with an id drawn from its digest, so every refresh that yields this refresh
    /// token yields this same access token too.
    pub fn issue_with_refresh(
        &self,
        user_id: i64,
        role: Role,
        session_id: i64,
        refresh_token_hash: &str,
        refresh_issued_at: DateTime<Utc>,
    ) -> AppResult<String> {
        let digest = Sha256::digest(format!("access-token-id:{refresh_token_hash}"));
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest[..16]);
        self.encode(
            user_id,
            role,
            session_id,
            refresh_issued_at.timestamp(),
            uuid::Builder::from_custom_bytes(id).into_uuid(),
        )
    }

    fn encode(
        &self,
        user_id: i64,
        role: Role,
        session_id: i64,
        issued_at: i64,
        id: Uuid,
    ) -> AppResult<String> {
        let claims = AccessClaims {
            sub: user_id.to_string(),
            role,
            sid: session_id,
            iat: issued_at,
            exp: issued_at + self.ttl_secs as i64,
            jti: id.to_string(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(AppError::internal)
    }

    pub fn decode(&self, token: &str) -> AppResult<AccessClaims> {
        if let Some(claims) = self.verified.get(token) {
            // as the validation decides, with no leeway
            if claims.exp < Utc::now().timestamp() {
                return Err(token_expired());
            }
            return Ok(claims);
        }
        let claims = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|err| match err.kind() {
                ErrorKind::ExpiredSignature => token_expired(),
                _ => AppError::unauthorized("invalid_token", "the access token is invalid"),
            })?;
        self.verified.insert(token.to_owned(), claims.clone());
        Ok(claims)
    }
}

fn token_expired() -> AppError {
    AppError::unauthorized("token_expired", "the access token has expired")
}

/// A new random opaque token: 256 bits, URL-safe.
pub fn new_opaque_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The refresh token that replaces `refresh_token` when it is rotated: an HMAC of it
/// under the server's secret. Only the database's digests are stored, so this is how a
/// refresh repeated within the reuse interval hands out the same successor again; and
/// only whoever holds the old token (and the server) can compute it.
pub fn successor_refresh_token(secret: &str, refresh_token: &str) -> AppResult<String> {
    let mut mac = Hmac::<Sha256>::new_from_slice(format!("refresh-successor:{secret}").as_bytes())
        .map_err(AppError::internal)?;
    mac.update(refresh_token.as_bytes());
    Ok(URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

/// The digest under which an opaque token is stored.
pub fn hash_opaque_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_token_round_trip() {
        let tokens = AccessTokens::new("test-secret-of-sufficient-length-123", 900);
        let token = tokens.issue(42, Role::Moderator, 7).unwrap();
        let claims = tokens.decode(&token).unwrap();
        assert_eq!(claims.user_id().unwrap(), 42);
        assert_eq!(claims.role, Role::Moderator);
        assert_eq!(claims.sid, 7);
        assert_eq!(claims.exp - claims.iat, 900);
    }

    #[test]
    fn foreign_and_garbled_tokens_are_rejected() {
        let ours = AccessTokens::new("secret-one-secret-one-secret-one", 900);
        let theirs = AccessTokens::new("secret-two-secret-two-secret-two", 900);
        let token = theirs.issue(1, Role::Admin, 1).unwrap();
        assert_eq!(ours.decode(&token).unwrap_err().code(), "invalid_token");
        assert_eq!(
            ours.decode("not.a.jwt").unwrap_err().code(),
            "invalid_token"
        );
    }

    #[test]
    fn expired_tokens_say_so() {
        let tokens = AccessTokens::new("secret-one-secret-one-secret-one", 900);
        let now = Utc::now().timestamp();
        let claims = AccessClaims {
            sub: "1".into(),
            role: Role::User,
            sid: 1,
            iat: now - 1000,
            exp: now - 100,
            jti: "x".into(),
        };
        let token = jsonwebtoken::encode(&Header::default(), &claims, &tokens.encoding).unwrap();
        assert_eq!(tokens.decode(&token).unwrap_err().code(), "token_expired");
    }

    #[test]
    fn a_token_checked_before_still_expires_and_only_valid_tokens_are_kept() {
        let tokens = AccessTokens::new("secret-one-secret-one-secret-one", 900);
        let now = Utc::now().timestamp();
        // expires at the end of the next second
        let token = tokens
            .encode(5, Role::User, 3, now + 1 - 900, Uuid::now_v7())
            .unwrap();
        assert_eq!(tokens.decode(&token).unwrap().sid, 3);
        assert_eq!(tokens.decode(&token).unwrap().sid, 3);
        tokens.verified.run_pending_tasks();
        assert_eq!(tokens.verified.entry_count(), 1);
        std::thread::sleep(std::time::Duration::from_millis(2100));
        assert_eq!(tokens.decode(&token).unwrap_err().code(), "token_expired");

        let forged = format!("{}x", &token[..token.len() - 1]);
        assert_eq!(tokens.decode(&forged).unwrap_err().code(), "invalid_token");
        assert_eq!(
            tokens.decode("not.a.jwt").unwrap_err().code(),
            "invalid_token"
        );
        tokens.verified.run_pending_tasks();
        assert_eq!(tokens.verified.entry_count(), 1);
    }

    #[test]
    fn successors_are_deterministic_keyed_and_opaque() {
        let token = new_opaque_token();
        let successor = successor_refresh_token("secret-one", &token).unwrap();
        assert_eq!(
            successor,
            successor_refresh_token("secret-one", &token).unwrap()
        );
        assert_eq!(successor.len(), 43);
        assert_ne!(successor, token);
        assert_ne!(
            successor,
            successor_refresh_token("secret-two", &token).unwrap()
        );
        assert_ne!(
            successor,
            successor_refresh_token("secret-one", &new_opaque_token()).unwrap()
        );
    }

    #[test]
    fn the_access_token_of_a_refresh_token_is_always_the_same() {
        let tokens = AccessTokens::new("test-secret-of-sufficient-length-123", 900);
        let issued_at = Utc::now();
        let hash = hash_opaque_token("a refresh token");
        let first = tokens
            .issue_with_refresh(3, Role::User, 9, &hash, issued_at)
            .unwrap();
        let again = tokens
            .issue_with_refresh(3, Role::User, 9, &hash, issued_at)
            .unwrap();
        assert_eq!(first, again);
        let claims = tokens.decode(&first).unwrap();
        assert_eq!(claims.iat, issued_at.timestamp());
        let other = tokens
            .issue_with_refresh(3, Role::User, 9, &hash_opaque_token("another"), issued_at)
            .unwrap();
        assert_ne!(tokens.decode(&other).unwrap().jti, claims.jti);
    }

    #[test]
    fn opaque_tokens_are_random_and_hashed() {
        let a = new_opaque_token();
        assert_ne!(a, new_opaque_token());
        assert_eq!(a.len(), 43);
        assert_eq!(hash_opaque_token(&a).len(), 64);
        assert_ne!(hash_opaque_token(&a), a);
    }
}
