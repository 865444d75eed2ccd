//! The watch catalog (seed 004): reference tables, mechanisms, watches with aliases and
//! photos by side, members' collections, drafts moderated before publication, search.

pub mod cache;
mod changes;
pub mod collections;
pub mod drafts;
pub mod entity;
pub mod import;
pub mod mechanisms;
pub mod model;
pub mod references;
pub mod references_handlers;
pub mod search;
pub mod watches;

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(references_handlers::router())
        .merge(mechanisms::router())
        .merge(watches::router())
        .merge(collections::router())
        .merge(drafts::router())
}
