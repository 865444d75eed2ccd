//! Profiles: my own, anyone's public one, and user management for admins.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use sea_orm::{ActiveValue::Set, TransactionTrait};

use super::auth_handlers::{load_user, user_responses};
use super::model::{
    AdminUpdateUserRequest, AdminUserQuery, PublicUserResponse, UpdateMeRequest, UserResponse,
    check_description, check_marketplace_url, check_phone_number, check_username,
};
use super::presence;
use super::{repo, sign_in};
use crate::auth::{AdminUser, CurrentUser};
use crate::bus::Notice;
use crate::error::{AppError, AppResult, FieldError, Problem};
use crate::extract::{Json, Path, Query};
use crate::files::handlers::remove_blobs;
use crate::files::repo as files_repo;
use crate::pagination::{Page, PageParams};
use crate::state::AppState;

/// My profile, with private fields.
#[utoipa::path(
    get,
    path = "/api/v1/users/me",
    tag = "users",
    security(("bearer" = [])),
    responses((status = 200, body = UserResponse), (status = 401, body = Problem))
)]
pub async fn get_me(
    State(state): State<AppState>,
    user: CurrentUser,
) -> AppResult<Json<UserResponse>> {
    Ok(Json(load_user(&state, user.user_id).await?))
}

/// Updates the fields sent; `null` clears an optional one.
#[utoipa::path(
    patch,
    path = "/api/v1/users/me",
    tag = "users",
    security(("bearer" = [])),
    request_body = UpdateMeRequest,
    responses(
        (status = 200, body = UserResponse),
        (status = 409, description = "username taken", body = Problem),
        (status = 422, body = Problem),
    )
)]
pub async fn update_me(
    State(state): State<AppState>,
    current: CurrentUser,
    Json(request): Json<UpdateMeRequest>,
) -> AppResult<Json<UserResponse>> {
    let username = request.username.as_deref().map(str::trim);
    let mut errors: Vec<FieldError> = Vec::new();
    let mut check = |result: Result<(), FieldError>| {
        if let Err(err) = result {
            errors.push(err);
        }
    };
    if let Some(username) = username {
        check(check_username("username", username));
    }
    if let Some(Some(phone)) = &request.phone_number {
        check(check_phone_number("phone_number", phone));
    }
    if let Some(Some(description)) = &request.description {
        check(check_description("description", description));
    }
    if let Some(Some(url)) = &request.avito_url {
        check(check_marketplace_url("avito_url", url, "avito.ru"));
    }
    if let Some(Some(url)) = &request.meshok_url {
        check(check_marketplace_url("meshok_url", url, "meshok.net"));
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    if let Some(username) = username
        && repo::username_taken(&state.db, username, Some(current.user_id)).await?
    {
        return Err(AppError::conflict(
            "username_taken",
            "this username is already taken",
        ));
    }

    let user = repo::find_user(&state.db, current.user_id)
        .await?
        .ok_or_else(|| AppError::not_found("user_not_found", "no such user"))?;
    let mut changes = repo::editable(user);
    if let Some(username) = username {
        changes.username = Set(username.to_owned());
    }
    if let Some(phone) = request.phone_number {
        changes.phone_number = Set(phone);
    }
    if let Some(url) = request.avito_url {
        changes.avito_url = Set(url);
    }
    if let Some(url) = request.meshok_url {
        changes.meshok_url = Set(url);
    }
    changes.updated_at = Set(Utc::now());
    let tx = state.db.begin().await?;
    repo::save_user(&tx, changes).await?;
    if let Some(description) = request.description {
        repo::save_description(&tx, current.user_id, description).await?;
    }
    let presence_changed = match request.show_presence {
        Some(shown) => presence::set_shown(&tx, current.user_id, shown).await?,
        None => false,
    };
    tx.commit().await?;
    if let Some(shown) = request.show_presence.filter(|_| presence_changed) {
        state
            .online
            .visibility_changed(&state, current.user_id, shown)
            .await?;
    }
    Ok(Json(load_user(&state, current.user_id).await?))
}

/// Deletes my account with everything that belongs to it, my files and avatars included.
#[utoipa::path(
    delete,
    path = "/api/v1/users/me",
    tag = "users",
    security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem))
)]
pub async fn delete_me(
    State(state): State<AppState>,
    current: CurrentUser,
) -> AppResult<StatusCode> {
    sign_in::revoke_user_sessions(&state, current.user_id, None).await?;
    let tx = state.db.begin().await?;
    let files = files_repo::mark_all_deleted(&tx, current.user_id).await?;
    repo::delete_user(&tx, current.user_id).await?;
    tx.commit().await?;
    for file in &files {
        remove_blobs(&state, file).await;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// A member's public profile: no email, no phone number; when they were last connected
/// and whether they are now, unless they hide it.
#[utoipa::path(
    get,
    path = "/api/v1/users/{id}",
    tag = "users",
    params(("id" = i64, Path, description = "user id")),
    responses((status = 200, body = PublicUserResponse), (status = 404, body = Problem))
)]
pub async fn get_user(
    State(state): State<AppState>,
    Path(user_id): Path<i64>,
) -> AppResult<Json<PublicUserResponse>> {
    let user = load_user(&state, user_id).await?;
    if !user.is_active {
        return Err(AppError::not_found("user_not_found", "no such user"));
    }
    let presence = presence::public(&state, user_id).await?;
    Ok(Json(PublicUserResponse {
        last_seen: presence.last_seen,
        online: presence.online,
        ..user.into()
    }))
}

/// All users, filtered by role or by part of the username or email (admins only).
#[utoipa::path(
    get,
    path = "/api/v1/admin/users",
    tag = "admin",
    security(("bearer" = [])),
    params(AdminUserQuery),
    responses((status = 200, body = Page<UserResponse>), (status = 403, body = Problem))
)]
pub async fn list_users(
    State(state): State<AppState>,
    _admin: AdminUser,
    Query(query): Query<AdminUserQuery>,
) -> AppResult<Json<Page<UserResponse>>> {
    let page = PageParams {
        limit: query.limit,
        cursor: query.cursor,
    };
    let limit = page.limit()?;
    let filter = repo::UserFilter {
        role: query.role,
        query: query.q,
    };
    let rows = repo::list_users(&state.db, &filter, page.cursor_id()?, limit).await?;
    let page = Page::from_rows(rows, limit, |(user, _)| user.user_id);
    let items = user_responses(&state, page.items).await?;
    Ok(Json(Page {
        items,
        next_cursor: page.next_cursor,
    }))
}

/// Changes a user's role or deactivates them; a deactivated user is signed out at once.
#[utoipa::path(
    patch,
    path = "/api/v1/admin/users/{id}",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "user id")),
    request_body = AdminUpdateUserRequest,
    responses(
        (status = 200, body = UserResponse),
        (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, description = "admins cannot demote or deactivate themselves", body = Problem),
    )
)]
pub async fn update_user(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(user_id): Path<i64>,
    Json(request): Json<AdminUpdateUserRequest>,
) -> AppResult<Json<UserResponse>> {
    let user = repo::find_user(&state.db, user_id)
        .await?
        .ok_or_else(|| AppError::not_found("user_not_found", "no such user"))?;
    if user.user_id == admin.user_id && (request.role.is_some() || request.is_active == Some(false))
    {
        return Err(AppError::conflict(
            "cannot_modify_self",
            "admins cannot change their own role or deactivate themselves",
        ));
    }
    let mut changes = repo::editable(user);
    if let Some(role) = request.role {
        changes.role = Set(role.as_str().to_owned());
    }
    if let Some(is_active) = request.is_active {
        changes.is_active = Set(is_active);
    }
    changes.updated_at = Set(Utc::now());
    // published before the commit: a change the client is told of is known everywhere
    let tx = state.db.begin().await?;
    repo::save_user(&tx, changes).await?;
    let mut revoking = Vec::new();
    let mut revoked = Vec::new();
    if request.is_active == Some(false) {
        let (ids, guard) = sign_in::revoke_user_sessions_in(&tx, &state, user_id, None).await?;
        revoked = ids;
        revoking.push(guard);
    }
    if let Some(role) = request.role {
        revoking.push(state.sessions.role_changed(user_id, role).await?);
    }
    tx.commit().await?;
    drop(revoking);
    state.bus.publish_sessions_revoked(&revoked);
    if request.role.is_some() {
        state.bus.publish(Notice::RoleChanged { user_id });
    }
    Ok(Json(load_user(&state, user_id).await?))
}
