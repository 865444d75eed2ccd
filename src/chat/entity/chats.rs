use sea_orm::entity::prelude::*;

/// A private chat between two members or a named group.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "chats")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub chat_type: String,
    pub name: Option<String>,
    /// `{smaller user id}:{larger user id}` for a private chat, unique.
    pub private_key: Option<String>,
    pub created_by: Option<i64>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// The sequence number of the chat's latest event.
    pub last_seq: i64,
    pub last_message_id: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
