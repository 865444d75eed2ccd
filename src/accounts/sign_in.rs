//! Sessions and the tokens that keep them: starting one, rotating its refresh token,
//! and ending sessions.

use chrono::{Duration, Utc};
use sea_orm::{DatabaseTransaction, TransactionTrait};

use super::entity::tokens::{self, KIND_REFRESH};
use super::entity::{sessions, users};
use super::model::TokenResponse;
use super::repo;
use crate::auth::Role;
use crate::auth::session_cache::Revoking;
use crate::auth::tokens::{hash_opaque_token, new_opaque_token, successor_refresh_token};
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

/// Trades a refresh token for a new pair. A token presented twice means it leaked and
/// the whole session is revoked, except within the reuse interval after its rotation:
/// two tabs (or a retry after a lost answer) refreshing at once all get the same new
/// pair, whichever wins the race.
pub async fn rotate(state: &AppState, refresh_token: &str) -> AppResult<TokenResponse> {
    let token_hash = hash_opaque_token(refresh_token);
    let mut token = repo::find_token(&state.db, KIND_REFRESH, &token_hash)
        .await?
        .ok_or_else(invalid_refresh)?;
    let session_id = token.session_id.ok_or_else(invalid_refresh)?;
    let successor = successor_refresh_token(state.config.jwt_secret(), refresh_token)?;
    if token.used_at.is_none() {
        if token.expires_at <= Utc::now() {
            return Err(invalid_refresh());
        }
        let (session, user) = live_session(state, session_id, token.user_id).await?;
        let tx = state.db.begin().await?;
        // the conditional update lets exactly one concurrent refresh through
        if repo::use_token(&tx, token.id).await? {
            let successor_row = repo::insert_token(
                &tx,
                user.user_id,
                Some(session.id),
                KIND_REFRESH,
                hash_opaque_token(&successor),
                Utc::now() + Duration::seconds(state.config.refresh_token_ttl_secs as i64),
            )
            .await?;
            repo::touch_session(&tx, session.id).await?;
            tx.commit().await?;
            return refreshed_pair(state, &user, &successor_row, successor);
        }
        tx.rollback().await?;
        // a concurrent refresh used it first: read when
        token = repo::find_token(&state.db, KIND_REFRESH, &token_hash)
            .await?
            .ok_or_else(invalid_refresh)?;
    }
    if rotated_moments_ago(state, &token)
        && let Some(pair) = repeat_rotation(state, &token, successor).await?
    {
        return Ok(pair);
    }
    revoke_sessions(state, &[session_id]).await?;
    tracing::warn!(
        user_id = token.user_id,
        session_id,
        "refresh token reused; session revoked"
    );
    Err(AppError::unauthorized(
        "refresh_token_reused",
        "the refresh token was already used; the session has been revoked",
    ))
}

/// Whether a used token was rotated within the reuse interval.
fn rotated_moments_ago(state: &AppState, token: &tokens::Model) -> bool {
    let interval = Duration::seconds(state.config.refresh_reuse_interval_secs as i64);
    token
        .used_at
        .is_some_and(|used_at| interval > Duration::zero() && Utc::now() - used_at <= interval)
}

/// The pair the rotation of `token` handed out, again; `None` when its successor is not
/// the derived one (then the reuse is treated as a leak).
async fn repeat_rotation(
    state: &AppState,
    token: &tokens::Model,
    successor: String,
) -> AppResult<Option<TokenResponse>> {
    let Some(successor_row) =
        repo::find_token(&state.db, KIND_REFRESH, &hash_opaque_token(&successor)).await?
    else {
        return Ok(None);
    };
    if successor_row.session_id != token.session_id {
        return Ok(None);
    }
    let session_id = successor_row.session_id.ok_or_else(invalid_refresh)?;
    let (_, user) = live_session(state, session_id, successor_row.user_id).await?;
    refreshed_pair(state, &user, &successor_row, successor).map(Some)
}

/// The session and its user, when both are still live.
async fn live_session(
    state: &AppState,
    session_id: i64,
    user_id: i64,
) -> AppResult<(sessions::Model, users::Model)> {
    let session = repo::find_session(&state.db, session_id)
        .await?
        .filter(|session| session.revoked_at.is_none())
        .ok_or_else(invalid_refresh)?;
    let user = repo::find_user(&state.db, user_id)
        .await?
        .filter(|user| user.is_active)
        .ok_or_else(invalid_refresh)?;
    Ok((session, user))
}

/// A refresh token and the access token that goes with it (always the same one).
fn refreshed_pair(
    state: &AppState,
    user: &users::Model,
    refresh_row: &tokens::Model,
    refresh_token: String,
) -> AppResult<TokenResponse> {
    let session_id = refresh_row.session_id.ok_or_else(invalid_refresh)?;
    Ok(TokenResponse {
        access_token: state.access_tokens.issue_with_refresh(
            user.user_id,
            role_of(user)?,
            session_id,
            &refresh_row.token_hash,
            refresh_row.created_at,
        )?,
        refresh_token,
        token_type: "Bearer",
        expires_in: state.access_tokens.ttl_secs(),
    })
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

/// Revokes sessions and tells every instance. Redis hears of it before the database
/// commits it: if Redis cannot be told, nothing is revoked and the caller gets 503.
pub async fn revoke_sessions(state: &AppState, session_ids: &[i64]) -> AppResult<()> {
    let tx = state.db.begin().await?;
    for id in session_ids {
        repo::revoke_session(&tx, *id).await?;
    }
    let revoking = state.sessions.sessions_revoked(session_ids).await?;
    tx.commit().await?;
    drop(revoking);
    state.bus.publish_sessions_revoked(session_ids);
    Ok(())
}

/// Revokes all sessions of a user (but `keep`) and tells every instance.
pub async fn revoke_user_sessions(
    state: &AppState,
    user_id: i64,
    keep: Option<i64>,
) -> AppResult<()> {
    let tx = state.db.begin().await?;
    let (revoked, revoking) = revoke_user_sessions_in(&tx, state, user_id, keep).await?;
    tx.commit().await?;
    drop(revoking);
    state.bus.publish_sessions_revoked(&revoked);
    Ok(())
}

/// `revoke_user_sessions` inside the caller's transaction, which commits after it and
/// then drops the guard and closes the sockets of the sessions it returns
/// (`Bus::publish_sessions_revoked`).
pub async fn revoke_user_sessions_in<'a>(
    tx: &DatabaseTransaction,
    state: &'a AppState,
    user_id: i64,
    keep: Option<i64>,
) -> AppResult<(Vec<i64>, Revoking<'a>)> {
    let revoked = repo::revoke_user_sessions(tx, user_id, keep).await?;
    let revoking = state.sessions.sessions_revoked(&revoked).await?;
    Ok((revoked, revoking))
}
