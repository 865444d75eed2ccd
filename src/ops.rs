//! Operational endpoints outside the API prefix: liveness, readiness and metrics.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::db;
use crate::error::{AppError, AppResult};
use crate::extract::Json;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    status: &'static str,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness: every backing service answers (the database, Redis when configured, the
/// file storage).
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "ops",
    responses((status = 200, body = Health), (status = 503, body = crate::error::Problem))
)]
async fn readyz(State(state): State<AppState>) -> AppResult<Json<Health>> {
    db::ping(&state.db).await.map_err(|err| {
        tracing::warn!(error = %err, "readiness check: database unreachable");
        AppError::Unavailable {
            detail: "the database is unreachable".to_owned(),
        }
    })?;
    state.sessions.ping().await?;
    state.storage.ping().await.map_err(|err| {
        tracing::warn!(error = %err, "readiness check: storage unreachable");
        AppError::Unavailable {
            detail: "the file storage is unreachable".to_owned(),
        }
    })?;
    Ok(Json(Health { status: "ready" }))
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, content_type = "text/plain")))]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}
