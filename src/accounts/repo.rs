//! Queries of the accounts tables. Each takes any connection or transaction.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use super::entity::{oauth_identities, sessions, tokens, user_credentials, user_details, users};
use crate::auth::Role;
use crate::auth::password::PasswordScheme;
use crate::error::AppResult;

/// What a new account starts with.
pub struct NewUser {
    pub username: String,
    pub email: String,
    pub role: Role,
    /// `None` for accounts that sign in through OAuth only.
    pub password_hash: Option<String>,
}

pub async fn insert_user(conn: &impl ConnectionTrait, new: NewUser) -> AppResult<users::Model> {
    let now = Utc::now();
    let user = users::ActiveModel {
        username: Set(new.username),
        email: Set(new.email),
        role: Set(new.role.as_str().to_owned()),
        is_active: Set(true),
        rating: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    user_details::ActiveModel {
        user_id: Set(user.user_id),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    let scheme = if new.password_hash.is_some() {
        PasswordScheme::Argon2id
    } else {
        PasswordScheme::None
    };
    user_credentials::ActiveModel {
        user_id: Set(user.user_id),
        password_hash: Set(new.password_hash),
        password_encryption: Set(scheme.as_str().to_owned()),
    }
    .insert(conn)
    .await?;
    Ok(user)
}

pub async fn find_user(
    conn: &impl ConnectionTrait,
    user_id: i64,
) -> AppResult<Option<users::Model>> {
    Ok(users::Entity::find_by_id(user_id).one(conn).await?)
}

pub async fn find_user_by_email(
    conn: &impl ConnectionTrait,
    email: &str,
) -> AppResult<Option<users::Model>> {
    Ok(users::Entity::find()
        .filter(users::Column::Email.eq(email))
        .one(conn)
        .await?)
}

pub async fn username_taken(
    conn: &impl ConnectionTrait,
    username: &str,
    except: Option<i64>,
) -> AppResult<bool> {
    let mut query = users::Entity::find().filter(
        Expr::expr(Func::lower(Expr::col(users::Column::Username))).eq(username.to_lowercase()),
    );
    if let Some(user_id) = except {
        query = query.filter(users::Column::UserId.ne(user_id));
    }
    Ok(query.one(conn).await?.is_some())
}

/// Finds an account by email (when the login has an `@`) or by username, any case.
pub async fn find_user_by_login(
    conn: &impl ConnectionTrait,
    login: &str,
) -> AppResult<Option<users::Model>> {
    let login = login.trim().to_lowercase();
    let condition = if login.contains('@') {
        users::Column::Email.eq(login)
    } else {
        Expr::expr(Func::lower(Expr::col(users::Column::Username))).eq(login)
    };
    Ok(users::Entity::find().filter(condition).one(conn).await?)
}

pub async fn credentials(
    conn: &impl ConnectionTrait,
    user_id: i64,
) -> AppResult<Option<user_credentials::Model>> {
    Ok(user_credentials::Entity::find_by_id(user_id)
        .one(conn)
        .await?)
}

pub async fn set_password(
    conn: &impl ConnectionTrait,
    user_id: i64,
    argon2_hash: String,
) -> AppResult<()> {
    user_credentials::Entity::update_many()
        .col_expr(
            user_credentials::Column::PasswordHash,
            Expr::value(argon2_hash),
        )
        .col_expr(
            user_credentials::Column::PasswordEncryption,
            Expr::value(PasswordScheme::Argon2id.as_str()),
        )
        .filter(user_credentials::Column::UserId.eq(user_id))
        .exec(conn)
        .await?;
    Ok(())
}

pub async fn touch_last_login(conn: &impl ConnectionTrait, user_id: i64) -> AppResult<()> {
    user_details::Entity::update_many()
        .col_expr(user_details::Column::LastLoginAt, Expr::value(Utc::now()))
        .filter(user_details::Column::UserId.eq(user_id))
        .exec(conn)
        .await?;
    Ok(())
}

pub async fn save_user(
    conn: &impl ConnectionTrait,
    user: users::ActiveModel,
) -> AppResult<users::Model> {
    Ok(user.update(conn).await?)
}

pub async fn save_description(
    conn: &impl ConnectionTrait,
    user_id: i64,
    description: Option<String>,
) -> AppResult<()> {
    user_details::Entity::update_many()
        .col_expr(user_details::Column::Description, Expr::value(description))
        .filter(user_details::Column::UserId.eq(user_id))
        .exec(conn)
        .await?;
    Ok(())
}

pub async fn delete_user(conn: &impl ConnectionTrait, user_id: i64) -> AppResult<()> {
    users::Entity::delete_by_id(user_id).exec(conn).await?;
    Ok(())
}

pub struct UserFilter {
    pub role: Option<Role>,
    pub query: Option<String>,
}

/// Users in id order after `after_id`; one more row than `limit` tells that more follow.
pub async fn list_users(
    conn: &impl ConnectionTrait,
    filter: &UserFilter,
    after_id: Option<i64>,
    limit: u64,
) -> AppResult<Vec<(users::Model, Option<user_details::Model>)>> {
    let mut query = users::Entity::find().find_also_related(user_details::Entity);
    if let Some(role) = filter.role {
        query = query.filter(users::Column::Role.eq(role.as_str()));
    }
    if let Some(text) = filter
        .query
        .as_deref()
        .map(str::trim)
        .filter(|text| !text.is_empty())
    {
        let pattern = format!("%{}%", escape_like(&text.to_lowercase()));
        query = query.filter(
            Expr::expr(Func::lower(Expr::col((
                users::Entity,
                users::Column::Username,
            ))))
            .like(sea_orm::sea_query::LikeExpr::new(pattern.clone()).escape('\\'))
            .or(Expr::col((users::Entity, users::Column::Email))
                .like(sea_orm::sea_query::LikeExpr::new(pattern).escape('\\'))),
        );
    }
    if let Some(after_id) = after_id {
        query = query.filter(users::Column::UserId.gt(after_id));
    }
    Ok(query
        .order_by_asc(users::Column::UserId)
        .limit(limit + 1)
        .all(conn)
        .await?)
}

fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

pub async fn create_session(
    conn: &impl ConnectionTrait,
    user_id: i64,
    ip: Option<String>,
    user_agent: Option<String>,
) -> AppResult<sessions::Model> {
    let now = Utc::now();
    Ok(sessions::ActiveModel {
        user_id: Set(user_id),
        created_at: Set(now),
        last_seen_at: Set(now),
        user_agent: Set(user_agent),
        ip: Set(ip),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(conn)
    .await?)
}

pub async fn find_session(
    conn: &impl ConnectionTrait,
    session_id: i64,
) -> AppResult<Option<sessions::Model>> {
    Ok(sessions::Entity::find_by_id(session_id).one(conn).await?)
}

pub async fn touch_session(conn: &impl ConnectionTrait, session_id: i64) -> AppResult<()> {
    sessions::Entity::update_many()
        .col_expr(sessions::Column::LastSeenAt, Expr::value(Utc::now()))
        .filter(sessions::Column::Id.eq(session_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Live sessions of a user, most recently used first.
pub async fn live_sessions(
    conn: &impl ConnectionTrait,
    user_id: i64,
    seen_after: DateTime<Utc>,
) -> AppResult<Vec<sessions::Model>> {
    Ok(sessions::Entity::find()
        .filter(sessions::Column::UserId.eq(user_id))
        .filter(sessions::Column::RevokedAt.is_null())
        .filter(sessions::Column::LastSeenAt.gt(seen_after))
        .order_by_desc(sessions::Column::LastSeenAt)
        .order_by_desc(sessions::Column::Id)
        .all(conn)
        .await?)
}

/// Revokes one session; false when it was already revoked.
pub async fn revoke_session(conn: &impl ConnectionTrait, session_id: i64) -> AppResult<bool> {
    let result = sessions::Entity::update_many()
        .col_expr(sessions::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(sessions::Column::Id.eq(session_id))
        .filter(sessions::Column::RevokedAt.is_null())
        .exec(conn)
        .await?;
    Ok(result.rows_affected > 0)
}

/// Revokes every live session of a user but `keep`; returns the ids it revoked.
pub async fn revoke_user_sessions(
    conn: &impl ConnectionTrait,
    user_id: i64,
    keep: Option<i64>,
) -> AppResult<Vec<i64>> {
    let mut live = sessions::Entity::find()
        .select_only()
        .column(sessions::Column::Id)
        .filter(sessions::Column::UserId.eq(user_id))
        .filter(sessions::Column::RevokedAt.is_null());
    if let Some(keep) = keep {
        live = live.filter(sessions::Column::Id.ne(keep));
    }
    let ids: Vec<i64> = live.into_tuple().all(conn).await?;
    if !ids.is_empty() {
        sessions::Entity::update_many()
            .col_expr(sessions::Column::RevokedAt, Expr::value(Utc::now()))
            .filter(sessions::Column::Id.is_in(ids.clone()))
            .exec(conn)
            .await?;
    }
    Ok(ids)
}

pub async fn insert_token(
    conn: &impl ConnectionTrait,
    user_id: i64,
    session_id: Option<i64>,
    kind: &str,
    token_hash: String,
    expires_at: DateTime<Utc>,
) -> AppResult<tokens::Model> {
    let token = tokens::ActiveModel {
        user_id: Set(user_id),
        session_id: Set(session_id),
        kind: Set(kind.to_owned()),
        token_hash: Set(token_hash),
        created_at: Set(Utc::now()),
        expires_at: Set(expires_at),
        used_at: Set(None),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    Ok(token)
}

pub async fn find_token(
    conn: &impl ConnectionTrait,
    kind: &str,
    token_hash: &str,
) -> AppResult<Option<tokens::Model>> {
    Ok(tokens::Entity::find()
        .filter(tokens::Column::TokenHash.eq(token_hash))
        .filter(tokens::Column::Kind.eq(kind))
        .one(conn)
        .await?)
}

/// Marks a token used; false when another request used it first.
pub async fn use_token(conn: &impl ConnectionTrait, token_id: i64) -> AppResult<bool> {
    let result = tokens::Entity::update_many()
        .col_expr(tokens::Column::UsedAt, Expr::value(Utc::now()))
        .filter(tokens::Column::Id.eq(token_id))
        .filter(tokens::Column::UsedAt.is_null())
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Uses up every outstanding token of one kind for a user.
pub async fn use_all_tokens(
    conn: &impl ConnectionTrait,
    user_id: i64,
    kind: &str,
) -> AppResult<()> {
    tokens::Entity::update_many()
        .col_expr(tokens::Column::UsedAt, Expr::value(Utc::now()))
        .filter(tokens::Column::UserId.eq(user_id))
        .filter(tokens::Column::Kind.eq(kind))
        .filter(tokens::Column::UsedAt.is_null())
        .exec(conn)
        .await?;
    Ok(())
}

pub async fn find_identity(
    conn: &impl ConnectionTrait,
    provider: &str,
    subject: &str,
) -> AppResult<Option<oauth_identities::Model>> {
    Ok(oauth_identities::Entity::find()
        .filter(oauth_identities::Column::Provider.eq(provider))
        .filter(oauth_identities::Column::Subject.eq(subject))
        .one(conn)
        .await?)
}

pub async fn insert_identity(
    conn: &impl ConnectionTrait,
    provider: &str,
    subject: &str,
    user_id: i64,
    email: Option<String>,
) -> AppResult<()> {
    oauth_identities::ActiveModel {
        provider: Set(provider.to_owned()),
        subject: Set(subject.to_owned()),
        user_id: Set(user_id),
        email: Set(email),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    Ok(())
}

/// Turns a loaded user into an active model for a partial update.
pub fn editable(user: users::Model) -> users::ActiveModel {
    user.into_active_model()
}
