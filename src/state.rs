//! State shared by every request.

use std::ops::Deref;
use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use sea_orm::DatabaseConnection;

use crate::accounts::oauth::OAuthClients;
use crate::auth::password::Passwords;
use crate::auth::rate_limit::RateLimiter;
use crate::auth::sessions::SessionRegistry;
use crate::auth::tokens::AccessTokens;
use crate::bus::Bus;
use crate::catalog::cache::CatalogCache;
use crate::chat::live::Hub;
use crate::config::Config;
use crate::db::read::Reader;
use crate::db::write::Writer;
use crate::file_grants::{FileReadGrants, FileReferences};
use crate::files::sniff::AllowedTypes;
use crate::mail::Mailer;
use crate::online::OnlineStatus;
use crate::storage::Storage;

#[derive(Clone)]
pub struct AppState(pub Arc<App>);

pub struct App {
    pub config: Config,
    pub db: DatabaseConnection,
    /// Reads on the request path (see [`crate::db::read`]).
    pub reader: Reader,
    /// Write transactions on the request path (see [`crate::db::write`]).
    pub writer: Writer,
    pub access_tokens: AccessTokens,
    pub passwords: Passwords,
    pub sessions: SessionRegistry,
    pub rate_limiter: RateLimiter,
    pub mailer: Mailer,
    pub oauth: OAuthClients,
    pub metrics: PrometheusHandle,
    pub storage: Storage,
    pub allowed_types: AllowedTypes,
    /// Shared with the bus, which tells it of other processes' writes.
    pub catalog_cache: Arc<CatalogCache>,
    /// The chat sockets connected to this process.
    pub chat_hub: Hub,
    /// Reads of files granted by the messenger (attachments), consulted by downloads.
    pub file_read_grants: Arc<dyn FileReadGrants>,
    /// What other domains keep of files (avatars), let go when a file is deleted.
    pub file_references: Arc<dyn FileReferences>,
    /// Who is online, as the messenger knows it, consulted by profiles.
    pub online: Arc<dyn OnlineStatus>,
    /// Notices between the server processes that share the database.
    pub bus: Bus,
}

impl Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}
