//! Sessions and the tokens that keep them: starting one, rotating its refresh token,
//! and ending sessions.

use chrono::{Duration, Utc};
use sea_orm::{DatabaseTransaction, TransactionTrait};

use super::entity::tokens::KIND_REFRESH;
use super::entity::users;
use super::model::TokenResponse;
use super::repo;
use crate::auth::Role;
use crate::auth::tokens::{hash_opaque_token, new_opaque_token};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Where a sign-in comes from, kept on the session.
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

fn role_of(user: &users::Model) -> AppResult<Role> {
    user.role
        .parse()
        .map_err(|err: String| AppError::internal(anyhow::anyhow!(err)))
}

fn invalid_refresh() -> AppError {
    AppError::unauthorized(
        "invalid_refresh_token",
        "the refresh token is invalid or expired",
    )
}

/// Opens a session for a user who has just proven who they are, inside the caller's
/// transaction.
pub async fn start_session(
    tx: &DatabaseTransaction,
    state: &AppState,
    user: &users::Model,
    client: ClientInfo,
) -> AppResult<TokenResponse> {
    let role = role_of(user)?;
    let refresh_token = new_opaque_token();
    let expires_at = Utc::now() + Duration::seconds(state.config.refresh_token_ttl_secs as i64);
    let session = repo::create_session(tx, user.user_id, client.ip, client.user_agent).await?;
    repo::insert_token(
        tx,
        user.user_id,
        Some(session.id),
        KIND_REFRESH,
        hash_opaque_token(&refresh_token),
        expires_at,
    )
    .await?;
    repo::touch_last_login(tx, user.user_id).await?;
    token_response(state, user.user_id, role, session.id, refresh_token)
}

/// Trades a refresh token for a new pair. A token presented twice means it leaked:
/// the whole session is revoked.
pub async fn rotate(state: &AppState, refresh_token: &str) -> AppResult<TokenResponse> {
    let token = repo::find_token(&state.db, KIND_REFRESH, &hash_opaque_token(refresh_token))
        .await?
        .ok_or_else(invalid_refresh)?;
    let session_id = token.session_id.ok_or_else(invalid_refresh)?;
    if token.used_at.is_some() {
        revoke_sessions(state, &[session_id]).await?;
        tracing::warn!(
            user_id = token.user_id,
            session_id,
            "refresh token reused; session revoked"
        );
        return Err(AppError::unauthorized(
            "refresh_token_reused",
            "the refresh token was already used; the session has been revoked",
        ));
    }
    if token.expires_at <= Utc::now() {
        return Err(invalid_refresh());
    }
    let session = repo::find_session(&state.db, session_id)
        .await?
        .filter(|session| session.revoked_at.is_none())
        .ok_or_else(invalid_refresh)?;
    let user = repo::find_user(&state.db, token.user_id)
        .await?
        .filter(|user| user.is_active)
        .ok_or_else(invalid_refresh)?;

    let new_refresh_token = new_opaque_token();
    let tx = state.db.begin().await?;
    if !repo::use_token(&tx, token.id).await? {
        // a concurrent request used it between our read and this write
        tx.rollback().await?;
        revoke_sessions(state, &[session.id]).await?;
        return Err(AppError::unauthorized(
            "refresh_token_reused",
            "the refresh token was already used; the session has been revoked",
        ));
    }
    repo::insert_token(
        &tx,
        user.user_id,
        Some(session.id),
        KIND_REFRESH,
        hash_opaque_token(&new_refresh_token),
        Utc::now() + Duration::seconds(state.config.refresh_token_ttl_secs as i64),
    )
    .await?;
    repo::touch_session(&tx, session.id).await?;
    tx.commit().await?;
    token_response(
        state,
        user.user_id,
        role_of(&user)?,
        session.id,
        new_refresh_token,
    )
}

fn token_response(
    state: &AppState,
    user_id: i64,
    role: Role,
    session_id: i64,
    refresh_token: String,
) -> AppResult<TokenResponse> {
    Ok(TokenResponse {
        access_token: state.access_tokens.issue(user_id, role, session_id)?,
        refresh_token,
        token_type: "Bearer",
        expires_in: state.access_tokens.ttl_secs(),
    })
}

/// Revokes sessions in the database and tells every instance.
pub async fn revoke_sessions(state: &AppState, session_ids: &[i64]) -> AppResult<()> {
    for id in session_ids {
        repo::revoke_session(&state.db, *id).await?;
    }
    state.sessions.sessions_revoked(session_ids).await
}

/// Revokes all sessions of a user (but `keep`) and tells every instance.
pub async fn revoke_user_sessions(
    state: &AppState,
    user_id: i64,
    keep: Option<i64>,
) -> AppResult<()> {
    let revoked = repo::revoke_user_sessions(&state.db, user_id, keep).await?;
    state.sessions.sessions_revoked(&revoked).await
}
