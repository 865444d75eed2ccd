use sea_orm::entity::prelude::*;

/// A member of a chat, with their role and read watermark.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "chat_participants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub chat_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: i64,
    pub role: String,
    pub joined_at: DateTimeUtc,
    /// The sequence number of the event that brought them in.
    pub joined_seq: i64,
    /// Every event up to this sequence number has been read.
    pub read_seq: i64,
    /// Every event up to this sequence number has reached one of the member's devices.
    pub delivered_seq: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
