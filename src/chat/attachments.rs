//! Files attached to messages: which files a sender may attach, the rows that tie them to
//! a message and its chat, how they are shown, and the reads they grant to the chat's
//! participants for as long as they stay in it.

use std::collections::HashMap;

use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, FromQueryResult, JoinType,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait, Select,
};

use super::entity::{chat_participants, message_attachments};
use super::model::{AttachmentKind, AttachmentView};
use crate::accounts::avatars::file_url;
use crate::db::read::{Queries, find_all};
use crate::db::write::WriteTx;
use crate::error::{AppError, AppResult};
use crate::file_grants::FileReadGrants;
use crate::files::entity::{self as files, STATUS_ACTIVE};
use crate::files::model::Visibility;
use crate::files::thumbs::makes_thumbnails;

/// The thumbnail size attachment views link to (one of the sizes files offers).
const THUMBNAIL_SIZE: &str = "256x256";

/// A file a sender may attach, found by its uid.
#[derive(Debug, Clone, Copy)]
pub struct Attachable {
    file_id: i64,
    kind: AttachmentKind,
}

/// The files behind `uids`, in their order. Each must be an active file of the sender's
/// or a public one; any other uid, existing or not, is refused alike.
pub async fn attachable(
    queries: &impl Queries,
    sender_id: i64,
    uids: &[String],
) -> AppResult<Vec<Attachable>> {
    if uids.is_empty() {
        return Ok(Vec::new());
    }
    let candidates = files::Entity::find()
        .filter(files::Column::Uid.is_in(uids.iter().cloned()))
        .filter(files::Column::Status.eq(STATUS_ACTIVE));
    let found: HashMap<String, files::Model> = find_all(queries, candidates)
        .await?
        .into_iter()
        .map(|file| (file.uid.clone(), file))
        .collect();
    uids.iter()
        .map(|uid| {
            let file = found
                .get(uid)
                .filter(|file| {
                    file.added_user == Some(sender_id)
                        || file.visibility == Visibility::Public.as_str()
                })
                .ok_or_else(|| {
                    AppError::invalid(
                        "attachments",
                        format!("{uid} is not a file of yours nor a public one"),
                    )
                })?;
            Ok(Attachable {
                file_id: file.file_id,
                kind: AttachmentKind::of_mime(&file.mime_type),
            })
        })
        .collect()
}

/// Ties the files to a message of a chat, in their order.
pub async fn attach(
    tx: &WriteTx<'_>,
    chat_id: i64,
    message_id: i64,
    files: &[Attachable],
) -> AppResult<()> {
    if files.is_empty() {
        return Ok(());
    }
    let rows = (0..)
        .zip(files)
        .map(|(position, file)| message_attachments::ActiveModel {
            id: NotSet,
            message_id: Set(message_id),
            chat_id: Set(chat_id),
            file_id: Set(file.file_id),
            kind: Set(file.kind.as_str().to_owned()),
            position: Set(position),
        });
    tx.execute(&message_attachments::Entity::insert_many(rows).into_query())
        .await?;
    Ok(())
}

/// Unties a deleted message's files: they leave the chat's media and nobody reads them
/// through it any more.
pub async fn detach(tx: &WriteTx<'_>, message_id: i64) -> AppResult<()> {
    let untie = message_attachments::Entity::delete_many()
        .filter(message_attachments::Column::MessageId.eq(message_id))
        .into_query();
    tx.execute(&untie).await?;
    Ok(())
}

/// An attachment with what its view shows of the file.
#[derive(Debug, FromQueryResult)]
pub struct AttachmentRow {
    pub id: i64,
    pub message_id: i64,
    pub kind: String,
    pub uid: String,
    pub mime_type: String,
    pub size: i64,
    pub original_name: String,
}

impl AttachmentRow {
    pub fn view(self, public_url: &str) -> AttachmentView {
        let kind = AttachmentKind::parse(&self.kind).unwrap_or(AttachmentKind::File);
        let url = file_url(public_url, &self.uid);
        let thumbnail_url = (kind == AttachmentKind::Image && makes_thumbnails(&self.mime_type))
            .then(|| format!("{url}?thumb={THUMBNAIL_SIZE}"));
        AttachmentView {
            uid: self.uid,
            kind,
            mime_type: self.mime_type,
            size: self.size,
            name: self.original_name,
            url,
            thumbnail_url,
        }
    }
}

/// Attachments joined with their files, skipping files deleted since; the columns of
/// `AttachmentRow`.
pub fn with_files() -> Select<message_attachments::Entity> {
    message_attachments::Entity::find()
        .select_only()
        .columns([
            message_attachments::Column::Id,
            message_attachments::Column::MessageId,
            message_attachments::Column::Kind,
        ])
        .columns([
            files::Column::Uid,
            files::Column::MimeType,
            files::Column::Size,
            files::Column::OriginalName,
        ])
        .join(
            JoinType::InnerJoin,
            message_attachments::Entity::belongs_to(files::Entity)
                .from(message_attachments::Column::FileId)
                .to(files::Column::FileId)
                .into(),
        )
        .filter(files::Column::Status.eq(STATUS_ACTIVE))
}

/// The attachments of these messages as shown, in their order, by message id.
pub async fn views_of(
    conn: &impl ConnectionTrait,
    message_ids: Vec<i64>,
    public_url: &str,
) -> AppResult<HashMap<i64, Vec<AttachmentView>>> {
    if message_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = with_files()
        .filter(message_attachments::Column::MessageId.is_in(message_ids))
        .order_by_asc(message_attachments::Column::MessageId)
        .order_by_asc(message_attachments::Column::Position)
        .into_model::<AttachmentRow>()
        .all(conn)
        .await?;
    let mut by_message: HashMap<i64, Vec<AttachmentView>> = HashMap::new();
    for row in rows {
        by_message
            .entry(row.message_id)
            .or_default()
            .push(row.view(public_url));
    }
    Ok(by_message)
}

/// The messenger's grant: a file sent in a chat is readable by the chat's participants,
/// checked against the participants now, so someone removed loses it at once.
pub struct ChatFileGrants {
    db: DatabaseConnection,
}

impl ChatFileGrants {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[async_trait::async_trait]
impl FileReadGrants for ChatFileGrants {
    async fn may_read(&self, file_id: i64, user_id: i64) -> AppResult<bool> {
        let chat: Option<i64> = message_attachments::Entity::find()
            .select_only()
            .column(message_attachments::Column::ChatId)
            .join(
                JoinType::InnerJoin,
                message_attachments::Entity::belongs_to(chat_participants::Entity)
                    .from(message_attachments::Column::ChatId)
                    .to(chat_participants::Column::ChatId)
                    .into(),
            )
            .filter(message_attachments::Column::FileId.eq(file_id))
            .filter(chat_participants::Column::UserId.eq(user_id))
            .limit(1)
            .into_tuple()
            .one(&self.db)
            .await?;
        Ok(chat.is_some())
    }
}
