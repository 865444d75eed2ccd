//! Reading a file through something else than owning it. The files domain answers who
//! may read a file; other domains (the messenger: files attached to a chat's messages)
//! grant reads of their own. They plug in here, below both, so that files never depends
//! on the domains that use it.

use crate::error::AppResult;

/// Reads of files that a domain grants to members.
#[async_trait::async_trait]
pub trait FileReadGrants: Send + Sync {
    /// Whether the member `user_id` may read the file `file_id` through this domain.
    async fn may_read(&self, file_id: i64, user_id: i64) -> AppResult<bool>;
}
