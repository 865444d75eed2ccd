//! Drafts: members propose new watches and mechanisms, or changes to existing ones, and
//! moderators publish or reject them.
//!
//! A draft is written freely (any field may be missing) while `draft`; submitting it
//! checks it fully and hands it to the moderators (`submitted`), who either approve it,
//! publishing it into the live catalog in one transaction and crediting the author, or
//! reject it with a message. A rejected draft is edited back into `draft` and submitted
//! again. Submitted and approved drafts are locked. A watch draft carries photos by side
//! (`photos`), published with it.

mod handlers;
mod images;
mod list;
pub mod model;
mod moderation;
pub mod photos;
mod publish;
mod repo;
mod values;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::AppError;
use crate::state::AppState;

pub use model::{DraftKind, DraftStatus};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(handlers::create_watch_draft))
        .routes(routes!(handlers::create_mechanism_draft))
        .routes(routes!(handlers::list_my_drafts))
        .routes(routes!(
            handlers::get_draft,
            handlers::update_draft,
            handlers::delete_draft
        ))
        .routes(routes!(handlers::submit_draft))
        .routes(routes!(images::put_draft_photo, images::delete_draft_photo))
        .routes(routes!(moderation::list_submitted))
        .routes(routes!(moderation::review_draft))
        .routes(routes!(moderation::approve_draft))
        .routes(routes!(moderation::reject_draft))
}

/// The answer for a draft that does not exist or that the caller may not see.
fn not_found() -> AppError {
    AppError::not_found("draft_not_found", "no such draft")
}
