//! Accounts: registration, sign-in, sessions, passwords, profiles, user management and
//! OAuth sign-in with Google and Yandex.

mod auth_handlers;
pub mod avatars;
pub mod entity;
mod identicon;
pub mod model;
pub mod oauth;
mod password_handlers;
pub mod presence;
pub mod refresh_cookie;
pub mod repo;
mod session_notices;
pub mod sign_in;
mod user_handlers;

use axum::extract::DefaultBodyLimit;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(auth_handlers::register))
        .routes(routes!(auth_handlers::login))
        .routes(routes!(auth_handlers::refresh))
        .routes(routes!(auth_handlers::logout))
        .routes(routes!(auth_handlers::list_sessions))
        .routes(routes!(auth_handlers::delete_session))
        .routes(routes!(password_handlers::forgot_password))
        .routes(routes!(password_handlers::reset_password))
        .routes(routes!(password_handlers::change_password))
        .routes(routes!(
            user_handlers::get_me,
            user_handlers::update_me,
            user_handlers::delete_me
        ))
        .routes(routes!(user_handlers::get_user))
        .routes(routes!(user_handlers::list_users))
        .routes(routes!(user_handlers::update_user))
        .routes(routes!(avatars::random_avatar))
        .routes(routes!(avatars::list_avatars))
        .routes(routes!(avatars::activate_avatar))
        .routes(routes!(avatars::delete_avatar))
        .merge(oauth::router())
        .merge(
            OpenApiRouter::new()
                .routes(routes!(avatars::upload_avatar))
                // the handler counts the bytes against the avatar limit itself
                .layer(DefaultBodyLimit::disable()),
        )
}
