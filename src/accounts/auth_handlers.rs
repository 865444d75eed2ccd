//! Registration, sign-in, token refresh, sign-out and the list of one's sessions.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::AppendHeaders;
use axum_extra::extract::cookie::CookieJar;
use chrono::Utc;
use sea_orm::TransactionTrait;
use sea_orm::sea_query::{Alias, Expr, JoinType, Query, SelectStatement};

use super::avatars::file_url;
use super::entity::{presence as presence_entity, user_details, users};
use super::model::{
    AuthResponse, LoginRequest, RefreshRequest, RegisterRequest, SessionResponse, TokenResponse,
    UserResponse, check_username, normalize_email,
};
use super::presence;
use super::refresh_cookie::RefreshCookie;
use super::repo::{self, NewUser};
use super::sign_in::{self, ClientInfo};
use crate::auth::password::{Verified, check_new_password};
use crate::auth::{ClientIp, CurrentUser, Role, UserAgent};
use crate::db::prepared::Prepared;
use crate::error::{AppError, AppResult, Problem};
use crate::extract::{Json, Path};
use crate::files::entity as files;
use crate::files::repo as files_repo;
use crate::state::AppState;

/// A `Set-Cookie` header, or none.
type MaybeCookie = AppendHeaders<Option<(HeaderName, HeaderValue)>>;

/// Creates an account and signs it in. With `X-Refresh-Cookie: 1` the refresh token
/// comes in an HttpOnly cookie instead of the body (see `POST /auth/refresh`).
#[utoipa::path(
    post,
    path = "/api/v1/auth/register",
    tag = "auth",
    request_body = RegisterRequest,
    params(("X-Refresh-Cookie" = Option<String>, Header, description = "`1`: the refresh token in an HttpOnly cookie")),
    responses(
        (status = 201, body = AuthResponse),
        (status = 403, description = "the cookie mode asked from another site", body = Problem),
        (status = 409, description = "username or email taken", body = Problem),
        (status = 422, description = "invalid fields", body = Problem),
        (status = 429, description = "too many attempts from this address", body = Problem),
    )
)]
pub async fn register(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    UserAgent(user_agent): UserAgent,
    cookie_mode: RefreshCookie,
    Json(request): Json<RegisterRequest>,
) -> AppResult<(StatusCode, MaybeCookie, Json<AuthResponse>)> {
    // every attempt counts: a 409 tells whether a username or email exists
    state
        .rate_limiter
        .hit(
            &format!("register:ip:{ip}"),
            state.config.register_limit_per_ip,
            Duration::from_secs(state.config.login_limit_window_secs),
        )
        .await?;
    let username = request.username.trim().to_owned();
    let mut errors = Vec::new();
    if let Err(err) = check_username("username", &username) {
        errors.push(err);
    }
    let email = normalize_email("email", &request.email)
        .map_err(|err| errors.push(err))
        .ok();
    if let Err(err) = check_new_password(
        "password",
        &request.password,
        &username,
        email.as_deref().unwrap_or_default(),
    ) {
        errors.push(err);
    }
    let email = match email {
        Some(email) if errors.is_empty() => email,
        _ => return Err(AppError::Validation(errors)),
    };
    if repo::username_taken(&state.db, &username, None).await? {
        return Err(AppError::conflict(
            "username_taken",
            "this username is already taken",
        ));
    }
    if repo::find_user_by_email(&state.db, &email).await?.is_some() {
        return Err(AppError::conflict(
            "email_taken",
            "an account with this email already exists",
        ));
    }
    let password_hash = state.passwords.hash(&request.password).await?;
    let tx = state.db.begin().await?;
    let user = repo::insert_user(
        &tx,
        NewUser {
            username,
            email,
            role: Role::User,
            password_hash: Some(password_hash),
        },
    )
    .await?;
    let mut tokens = sign_in::start_session(
        &tx,
        &state,
        &user,
        ClientInfo {
            ip: Some(ip.to_string()),
            user_agent,
        },
    )
    .await?;
    tx.commit().await?;
    let user = load_user(&state, user.user_id).await?;
    let cookie = cookie_mode.take_token(&mut tokens);
    Ok((
        StatusCode::CREATED,
        AppendHeaders(cookie),
        Json(AuthResponse { user, tokens }),
    ))
}

/// Signs in with an email or username and a password. With `X-Refresh-Cookie: 1` the
/// refresh token comes in an HttpOnly cookie instead of the body.
#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    tag = "auth",
    request_body = LoginRequest,
    params(("X-Refresh-Cookie" = Option<String>, Header, description = "`1`: the refresh token in an HttpOnly cookie")),
    responses(
        (status = 200, body = AuthResponse),
        (status = 401, description = "wrong login or password", body = Problem),
        (status = 403, description = "account deactivated", body = Problem),
        (status = 429, description = "too many attempts", body = Problem),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    UserAgent(user_agent): UserAgent,
    cookie_mode: RefreshCookie,
    Json(request): Json<LoginRequest>,
) -> AppResult<(MaybeCookie, Json<AuthResponse>)> {
    let window = Duration::from_secs(state.config.login_limit_window_secs);
    state
        .rate_limiter
        .hit(
            &format!("login:ip:{ip}"),
            state.config.login_limit_per_ip,
            window,
        )
        .await?;
    let user = repo::find_user_by_login(&state.db, &request.login).await?;
    let account_key = match &user {
        Some(user) => format!("login:user:{}", user.user_id),
        None => format!("login:name:{}", request.login.trim().to_lowercase()),
    };
    state
        .rate_limiter
        .hit(&account_key, state.config.login_limit_per_account, window)
        .await?;

    let credentials = match &user {
        Some(user) => repo::credentials(&state.db, user.user_id).await?,
        None => None,
    };
    let stored = credentials.as_ref().and_then(|credentials| {
        credentials.password_hash.as_deref().map(|hash| {
            (
                hash,
                crate::auth::password::PasswordScheme::parse(&credentials.password_encryption),
            )
        })
    });
    let verified = state.passwords.verify(&request.password, stored).await?;
    let user = match user {
        Some(user) if verified.is_ok() => user,
        _ => {
            return Err(AppError::unauthorized(
                "invalid_credentials",
                "the login or password is wrong",
            ));
        }
    };
    if !user.is_active {
        return Err(AppError::Forbidden {
            code: "account_disabled",
            detail: "this account has been deactivated".to_owned(),
        });
    }
    if verified == Verified::YesNeedsRehash {
        let hash = state.passwords.hash(&request.password).await?;
        repo::set_password(&state.db, user.user_id, hash).await?;
        tracing::info!(user_id = user.user_id, "password re-hashed with argon2id");
    }
    let tx = state.db.begin().await?;
    let mut tokens = sign_in::start_session(
        &tx,
        &state,
        &user,
        ClientInfo {
            ip: Some(ip.to_string()),
            user_agent,
        },
    )
    .await?;
    tx.commit().await?;
    let user = load_user(&state, user.user_id).await?;
    let cookie = cookie_mode.take_token(&mut tokens);
    Ok((AppendHeaders(cookie), Json(AuthResponse { user, tokens })))
}

/// Trades a refresh token for a new access and refresh token. Each refresh token works
/// once; presenting a used one revokes its session.
///
/// Cookie mode (the web app): send `X-Refresh-Cookie: 1` and the body `{}`; the token is
/// read from the `vitrine_refresh` cookie (HttpOnly, SameSite=Strict, path
/// `/api/v1/auth/refresh`, Secure over HTTPS) and its successor set in it, never in the
/// body. A cookie presented without that header, or with an `Origin` of another host, is
/// refused with 403.
#[utoipa::path(
    post,
    path = "/api/v1/auth/refresh",
    tag = "auth",
    request_body = RefreshRequest,
    params(("X-Refresh-Cookie" = Option<String>, Header, description = "`1`: the refresh token in an HttpOnly cookie")),
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, description = "invalid, expired, revoked or reused token", body = Problem),
        (status = 403, description = "a refresh cookie without the cookie mode's header, or from another site", body = Problem),
        (status = 422, description = "no refresh token", body = Problem),
    )
)]
pub async fn refresh(
    State(state): State<AppState>,
    cookie_mode: RefreshCookie,
    jar: CookieJar,
    Json(request): Json<RefreshRequest>,
) -> AppResult<(MaybeCookie, Json<TokenResponse>)> {
    let presented = cookie_mode
        .presented_token(&jar, request.refresh_token)?
        .ok_or_else(|| {
            AppError::unauthorized(
                "invalid_refresh_token",
                "the refresh token is invalid or expired",
            )
        })?;
    let mut tokens = sign_in::rotate(&state, &presented).await?;
    let cookie = cookie_mode.take_token(&mut tokens);
    Ok((AppendHeaders(cookie), Json(tokens)))
}

/// Ends the session of the access token; with `X-Refresh-Cookie: 1` also deletes the
/// refresh cookie.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    tag = "auth",
    security(("bearer" = [])),
    params(("X-Refresh-Cookie" = Option<String>, Header, description = "`1`: delete the refresh cookie")),
    responses((status = 204), (status = 401, body = Problem))
)]
pub async fn logout(
    State(state): State<AppState>,
    cookie_mode: RefreshCookie,
    user: CurrentUser,
) -> AppResult<(StatusCode, MaybeCookie)> {
    sign_in::revoke_sessions(&state, &[user.session_id]).await?;
    Ok((StatusCode::NO_CONTENT, AppendHeaders(cookie_mode.removal())))
}

/// My live sessions, most recently used first.
#[utoipa::path(
    get,
    path = "/api/v1/auth/sessions",
    tag = "auth",
    security(("bearer" = [])),
    responses((status = 200, body = Vec<SessionResponse>), (status = 401, body = Problem))
)]
pub async fn list_sessions(
    State(state): State<AppState>,
    user: CurrentUser,
) -> AppResult<Json<Vec<SessionResponse>>> {
    let seen_after =
        Utc::now() - chrono::Duration::seconds(state.config.refresh_token_ttl_secs as i64);
    let sessions = repo::live_sessions(&state.db, user.user_id, seen_after).await?;
    Ok(Json(
        sessions
            .into_iter()
            .map(|session| SessionResponse::new(session, user.session_id))
            .collect(),
    ))
}

/// Ends one of my sessions, e.g. on a lost device.
#[utoipa::path(
    delete,
    path = "/api/v1/auth/sessions/{id}",
    tag = "auth",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "session id")),
    responses((status = 204), (status = 401, body = Problem), (status = 404, body = Problem))
)]
pub async fn delete_session(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(session_id): Path<i64>,
) -> AppResult<StatusCode> {
    // someone else's session answers like a missing one
    repo::find_session(&state.db, session_id)
        .await?
        .filter(|session| session.user_id == user.user_id && session.revoked_at.is_none())
        .ok_or_else(|| AppError::not_found("session_not_found", "no such session"))?;
    sign_in::revoke_sessions(&state, &[session_id]).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One user with details, avatar and presence setting: one read, whose SQL is built once.
static PROFILE: Prepared = Prepared::new(|| profile_query(Prepared::parameter(0)));

fn profile_query(user_id: i64) -> SelectStatement {
    let mut select = Query::select();
    select
        .columns(
            [
                users::Column::UserId,
                users::Column::Username,
                users::Column::Email,
                users::Column::Role,
                users::Column::IsActive,
                users::Column::Rating,
                users::Column::PhoneNumber,
                users::Column::AvitoUrl,
                users::Column::MeshokUrl,
                users::Column::CreatedAt,
            ]
            .map(|column| (users::Entity, column)),
        )
        .columns([
            (user_details::Entity, user_details::Column::Description),
            (user_details::Entity, user_details::Column::LastLoginAt),
        ])
        .expr_as(
            Expr::col((files::Entity, files::Column::Uid)),
            Alias::new("avatar_uid"),
        )
        .expr_as(
            Expr::col((presence_entity::Entity, presence_entity::Column::Hidden)),
            Alias::new("presence_hidden"),
        )
        .from(users::Entity)
        .join(
            JoinType::LeftJoin,
            user_details::Entity,
            Expr::col((user_details::Entity, user_details::Column::UserId))
                .equals((users::Entity, users::Column::UserId)),
        )
        .join(
            JoinType::LeftJoin,
            files::Entity,
            Expr::col((files::Entity, files::Column::FileId))
                .equals((user_details::Entity, user_details::Column::ProfileImageId))
                .and(Expr::col((files::Entity, files::Column::Status)).eq(files::STATUS_ACTIVE)),
        )
        .join(
            JoinType::LeftJoin,
            presence_entity::Entity,
            Expr::col((presence_entity::Entity, presence_entity::Column::UserId))
                .equals((users::Entity, users::Column::UserId)),
        )
        .and_where(Expr::col((users::Entity, users::Column::UserId)).eq(user_id));
    select
}

/// The answer's columns only, read straight from the row: building the entities' models
/// first (every column, each through an active model) cost a fifth of `GET /users/me`.
pub async fn load_user(state: &AppState, user_id: i64) -> AppResult<UserResponse> {
    let row = state
        .reader
        .prepared(&PROFILE, &[user_id.into()])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| AppError::not_found("user_not_found", "no such user"))?;
    let avatar_url = row
        .get::<Option<String>>("avatar_uid")?
        .map(|uid| file_url(&state.config.public_url(), &uid));
    let hidden = row.get::<Option<bool>>("presence_hidden")?.unwrap_or(false);
    Ok(UserResponse {
        user_id: row.get("user_id")?,
        username: row.get("username")?,
        email: row.get("email")?,
        role: row.get("role")?,
        is_active: row.get("is_active")?,
        rating: row.get("rating")?,
        phone_number: row.get("phone_number")?,
        description: row.get("description")?,
        avito_url: row.get("avito_url")?,
        meshok_url: row.get("meshok_url")?,
        created_at: row.get("created_at")?,
        last_login_at: row.get("last_login_at")?,
        avatar_url,
        show_presence: !hidden,
    })
}

/// Builds user JSON for rows, looking up every active avatar's URL in one query.
pub async fn user_responses(
    state: &AppState,
    rows: Vec<(users::Model, Option<user_details::Model>)>,
) -> AppResult<Vec<UserResponse>> {
    let image_ids: Vec<i64> = rows
        .iter()
        .filter_map(|(_, details)| details.as_ref()?.profile_image_id)
        .collect();
    let uids: HashMap<i64, String> = files_repo::uids(&state.reader, image_ids)
        .await?
        .into_iter()
        .collect();
    let public_url = state.config.public_url();
    let user_ids: Vec<i64> = rows.iter().map(|(user, _)| user.user_id).collect();
    let shown = presence::shown(&state.reader, &user_ids).await?;
    Ok(rows
        .into_iter()
        .map(|(user, details)| {
            let avatar_url = details
                .as_ref()
                .and_then(|details| uids.get(&details.profile_image_id?))
                .map(|uid| file_url(&public_url, uid));
            let show_presence = shown.get(&user.user_id).copied().unwrap_or(true);
            UserResponse::new(user, details, avatar_url, show_presence)
        })
        .collect())
}
