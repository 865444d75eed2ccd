use sea_orm::entity::prelude::*;

/// A file a message carries, at its place among the message's attachments.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "message_attachments")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub message_id: i64,
    /// The message's chat: its members may read the file.
    pub chat_id: i64,
    pub file_id: i64,
    /// `image`, `video` or `file`, from the file's sniffed type.
    pub kind: String,
    pub position: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
