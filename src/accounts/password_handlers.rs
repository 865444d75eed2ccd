//! Forgotten, reset and changed passwords.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use sea_orm::TransactionTrait;

use super::entity::tokens::KIND_PASSWORD_RESET;
use super::model::{
    Accepted, ChangePasswordRequest, ForgotPasswordRequest, ResetPasswordRequest, normalize_email,
};
use super::{repo, sign_in};
use crate::auth::password::{PasswordScheme, check_new_password};
use crate::auth::tokens::{hash_opaque_token, new_opaque_token};
use crate::auth::{ClientIp, CurrentUser};
use crate::error::{AppError, AppResult, Problem};
use crate::extract::Json;
use crate::state::AppState;

/// Sends a single-use reset link if an account has this email. Always answers 202, so
/// the answer never tells whether the account exists.
#[utoipa::path(
    post,
    path = "/api/v1/auth/password/forgot",
    tag = "auth",
    request_body = ForgotPasswordRequest,
    responses((status = 202, body = Accepted), (status = 422, body = Problem), (status = 429, body = Problem))
)]
pub async fn forgot_password(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(request): Json<ForgotPasswordRequest>,
) -> AppResult<(StatusCode, Json<Accepted>)> {
    let email =
        normalize_email("email", &request.email).map_err(|err| AppError::Validation(vec![err]))?;
    let window = Duration::from_secs(state.config.login_limit_window_secs);
    state
        .rate_limiter
        .hit(
            &format!("forgot:ip:{ip}"),
            state.config.login_limit_per_ip,
            window,
        )
        .await?;
    state
        .rate_limiter
        .hit(
            &format!("forgot:email:{email}"),
            state.config.login_limit_per_account,
            window,
        )
        .await?;
    // the lookup and the mail happen after the answer, so timing reveals nothing either
    let background = state.clone();
    tokio::spawn(async move {
        if let Err(err) = send_reset_mail(&background, &email).await {
            tracing::error!(error = ?err, "password reset mail failed");
        }
    });
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            message: "if an account has this email, a reset link is on its way",
        }),
    ))
}

async fn send_reset_mail(state: &AppState, email: &str) -> anyhow::Result<()> {
    let Some(user) = repo::find_user_by_email(&state.db, email).await? else {
        return Ok(());
    };
    if !user.is_active {
        return Ok(());
    }
    let token = new_opaque_token();
    let ttl = state.config.password_reset_ttl_secs;
    repo::insert_token(
        &state.db,
        user.user_id,
        None,
        KIND_PASSWORD_RESET,
        hash_opaque_token(&token),
        Utc::now() + chrono::Duration::seconds(ttl as i64),
    )
    .await?;
    let body = format!(
        "Hello, {username}!\n\n\
         Someone asked to reset the password of your vitrine account.\n\
         To choose a new password, open:\n\n{url}/reset-password?token={token}\n\n\
         or send this token to POST /api/v1/auth/password/reset:\n\n{token}\n\n\
         The token works once and expires in {minutes} minutes.\n\
         If you did not ask for this, ignore this message.\n",
        username = user.username,
        url = state.config.public_url(),
        minutes = ttl / 60,
    );
    state
        .mailer
        .send(&user.email, "Reset your vitrine password", body)
        .await
}

/// Sets a new password with a reset token and signs out every session.
#[utoipa::path(
    post,
    path = "/api/v1/auth/password/reset",
    tag = "auth",
    request_body = ResetPasswordRequest,
    responses((status = 204), (status = 400, description = "invalid or expired token", body = Problem), (status = 422, body = Problem))
)]
pub async fn reset_password(
    State(state): State<AppState>,
    Json(request): Json<ResetPasswordRequest>,
) -> AppResult<StatusCode> {
    let invalid = || {
        AppError::bad_request(
            "invalid_reset_token",
            "the reset token is invalid, used or expired",
        )
    };
    let token = repo::find_token(
        &state.db,
        KIND_PASSWORD_RESET,
        &hash_opaque_token(&request.token),
    )
    .await?
    .filter(|token| token.used_at.is_none() && token.expires_at > Utc::now())
    .ok_or_else(invalid)?;
    let user = repo::find_user(&state.db, token.user_id)
        .await?
        .filter(|user| user.is_active)
        .ok_or_else(invalid)?;
    check_new_password(
        "new_password",
        &request.new_password,
        &user.username,
        &user.email,
    )
    .map_err(|err| AppError::Validation(vec![err]))?;
    let hash = state.passwords.hash(&request.new_password).await?;

    let tx = state.db.begin().await?;
    if !repo::use_token(&tx, token.id).await? {
        return Err(invalid());
    }
    repo::use_all_tokens(&tx, user.user_id, KIND_PASSWORD_RESET).await?;
    repo::set_password(&tx, user.user_id, hash).await?;
    let (revoked, revoking) =
        sign_in::revoke_user_sessions_in(&tx, &state, user.user_id, None).await?;
    tx.commit().await?;
    drop(revoking);
    state.bus.publish_sessions_revoked(&revoked);
    Ok(StatusCode::NO_CONTENT)
}

/// Changes my password; my other sessions are signed out.
#[utoipa::path(
    put,
    path = "/api/v1/users/me/password",
    tag = "users",
    security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 204),
        (status = 403, description = "the current password is wrong", body = Problem),
        (status = 409, description = "the account has no password yet", body = Problem),
        (status = 422, body = Problem),
    )
)]
pub async fn change_password(
    State(state): State<AppState>,
    current: CurrentUser,
    Json(request): Json<ChangePasswordRequest>,
) -> AppResult<StatusCode> {
    let user = repo::find_user(&state.db, current.user_id)
        .await?
        .ok_or_else(|| AppError::not_found("user_not_found", "no such user"))?;
    let credentials = repo::credentials(&state.db, user.user_id).await?;
    let Some((hash, scheme)) = credentials.as_ref().and_then(|credentials| {
        let scheme = PasswordScheme::parse(&credentials.password_encryption);
        credentials
            .password_hash
            .as_deref()
            .map(|hash| (hash, scheme))
    }) else {
        return Err(AppError::conflict(
            "no_password",
            "this account signs in through OAuth; set a password with the password reset flow",
        ));
    };
    if !state
        .passwords
        .verify(&request.current_password, Some((hash, scheme)))
        .await?
        .is_ok()
    {
        return Err(AppError::Forbidden {
            code: "wrong_password",
            detail: "the current password is wrong".to_owned(),
        });
    }
    check_new_password(
        "new_password",
        &request.new_password,
        &user.username,
        &user.email,
    )
    .map_err(|err| AppError::Validation(vec![err]))?;
    let new_hash = state.passwords.hash(&request.new_password).await?;
    let tx = state.db.begin().await?;
    repo::set_password(&tx, user.user_id, new_hash).await?;
    let (revoked, revoking) =
        sign_in::revoke_user_sessions_in(&tx, &state, user.user_id, Some(current.session_id))
            .await?;
    tx.commit().await?;
    drop(revoking);
    state.bus.publish_sessions_revoked(&revoked);
    Ok(StatusCode::NO_CONTENT)
}
