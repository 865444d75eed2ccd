//! OAuth sign-in with Google (OpenID Connect) and Yandex.

use utoipa_axum::router::OpenApiRouter;

use crate::config::Config;
use crate::state::AppState;

pub struct OAuthClients {
    #[allow(dead_code)]
    http: reqwest::Client,
}

impl OAuthClients {
    pub fn new(_config: &Config) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
        })
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
}
