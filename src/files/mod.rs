//! Files: streamed uploads to local disk or S3, downloads with ranges and caching,
//! expiring links, thumbnails.

mod blob_body;
mod download;
pub mod entity;
pub mod handlers;
pub mod ingest;
mod links;
pub mod model;
mod ranges;
pub mod repo;
pub mod sniff;
pub mod thumbs;

use axum::extract::DefaultBodyLimit;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    let uploads = OpenApiRouter::new()
        .routes(routes!(handlers::upload_multipart, handlers::list_files))
        .routes(routes!(handlers::upload_stream))
        // uploads enforce their own limit while streaming
        .layer(DefaultBodyLimit::disable());
    OpenApiRouter::new()
        .routes(routes!(handlers::download, handlers::delete_file))
        .routes(routes!(handlers::meta))
        .routes(routes!(handlers::create_link))
        .merge(uploads)
}
