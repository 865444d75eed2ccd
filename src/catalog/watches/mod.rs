//! Watches: the live catalog's records with aliases and photos by side. Anyone may read
//! them; moderators and admins write them directly (members propose changes as drafts,
//! which are published through `repo::insert_watch` and `repo::update_watch`).

pub mod detail;
pub mod handlers;
pub mod images;
pub mod list;
pub mod model;
pub mod repo;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use detail::load_detail;
pub use images::relocate_photos;
pub use repo::{
    Upserted, delete_watch, insert_watch, load_values, update_watch, update_watch_by,
    upsert_by_folder,
};

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(handlers::list_watches, handlers::create_watch))
        .routes(routes!(
            handlers::get_watch,
            handlers::update_watch,
            handlers::delete_watch
        ))
        .routes(routes!(images::put_photo, images::delete_photo))
}
