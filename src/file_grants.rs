//! What other domains do with files. The files domain answers who may read a file;
//! other domains (the messenger: files attached to a chat's messages; drafts: their
//! photos, for moderators) grant reads of their own, and some keep references to files
//! (accounts: avatars) that must go when a file is deleted. They plug in here, below both, so that files never depends on the
//! domains that use it.

use sea_orm::DatabaseTransaction;

use crate::error::AppResult;

/// Reads of files that a domain grants to members.
#[async_trait::async_trait]
pub trait FileReadGrants: Send + Sync {
    /// Whether the member `user_id` may read the file `file_id` through this domain.
    async fn may_read(&self, file_id: i64, user_id: i64) -> AppResult<bool>;
}

/// Reads granted when any of several domains grants them, asked in order.
pub struct AnyGrant(pub Vec<std::sync::Arc<dyn FileReadGrants>>);

#[async_trait::async_trait]
impl FileReadGrants for AnyGrant {
    async fn may_read(&self, file_id: i64, user_id: i64) -> AppResult<bool> {
        for grants in &self.0 {
            if grants.may_read(file_id, user_id).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// References to files that a domain keeps.
#[async_trait::async_trait]
pub trait FileReferences: Send + Sync {
    /// The file `file_id` is being deleted in `tx`: drop what refers to it there.
    async fn release(&self, tx: &DatabaseTransaction, file_id: i64) -> AppResult<()>;
}
