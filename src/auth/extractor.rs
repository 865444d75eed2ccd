//! Extractors for the caller: who they are, where they connect from, what client they use.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::{AUTHORIZATION, USER_AGENT};
use axum::http::request::Parts;

use super::Role;
use crate::error::AppError;
use crate::state::AppState;

/// A signed-in member whose session and account are live.
#[derive(Debug, Clone, Copy)]
pub struct CurrentUser {
    pub user_id: i64,
    pub role: Role,
    pub session_id: i64,
}

impl CurrentUser {
    pub fn require(&self, role: Role) -> Result<(), AppError> {
        if self.role >= role {
            Ok(())
        } else {
            Err(AppError::forbidden(format!(
                "this action needs the {role} role"
            )))
        }
    }
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
            AppError::unauthorized("missing_token", "an access token is required")
        })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|value| {
                let (scheme, token) = value.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|token| !token.is_empty())
            .ok_or_else(|| {
                AppError::unauthorized("invalid_token", "expected `Authorization: Bearer <token>`")
            })?;
        Self::from_token(state, token).await.map(|(user, _)| user)
    }
}

impl CurrentUser {
    /// The member an access token names, if its session and account are live; with the
    /// token's expiry (seconds since the epoch).
    pub async fn from_token(state: &AppState, token: &str) -> Result<(Self, i64), AppError> {
        let claims = state.access_tokens.decode(token)?;
        let role = state
            .sessions
            .check(&state.db, &state.reader, &claims)
            .await?;
        let user = CurrentUser {
            user_id: claims.user_id()?,
            role,
            session_id: claims.sid,
        };
        Ok((user, claims.exp))
    }
}

/// The caller if they sent a token (which must then be valid), else anonymous.
#[derive(Debug, Clone, Copy)]
pub struct OptionalUser(pub Option<CurrentUser>);

impl FromRequestParts<AppState> for OptionalUser {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if !parts.headers.contains_key(AUTHORIZATION) {
            return Ok(OptionalUser(None));
        }
        CurrentUser::from_request_parts(parts, state)
            .await
            .map(|user| OptionalUser(Some(user)))
    }
}

/// A signed-in admin; anyone else gets 403.
#[derive(Debug, Clone, Copy)]
pub struct AdminUser(pub CurrentUser);

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user = CurrentUser::from_request_parts(parts, state).await?;
        user.require(Role::Admin)?;
        Ok(AdminUser(user))
    }
}

/// The client's address: the peer, or the first `X-Forwarded-For` hop when configured.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if state.config.trust_forwarded_for
            && let Some(ip) = parts
                .headers
                .get("x-forwarded-for")
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.split(',').next())
                .and_then(|first| first.trim().parse().ok())
        {
            return Ok(ClientIp(ip));
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip())
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        Ok(ClientIp(peer))
    }
}

/// The `User-Agent`, cut to what the sessions table keeps.
#[derive(Debug, Clone)]
pub struct UserAgent(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for UserAgent {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(UserAgent(
            parts
                .headers
                .get(USER_AGENT)
                .and_then(|value| value.to_str().ok())
                .map(|agent| agent.chars().take(255).collect()),
        ))
    }
}
