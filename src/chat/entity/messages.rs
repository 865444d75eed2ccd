use sea_orm::entity::prelude::*;

/// A message; a deleted one keeps its row and sequence number without its text.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub chat_id: i64,
    /// The sequence number of the event that created it.
    pub seq: i64,
    pub sender_id: Option<i64>,
    /// The sender's nonce: a send repeated with it finds this message.
    pub client_id: Option<String>,
    pub text: String,
    pub reply_to_id: Option<i64>,
    pub sent_at: DateTimeUtc,
    pub edited_at: Option<DateTimeUtc>,
    pub deleted_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
