use sea_orm::entity::prelude::*;

/// A photo proposed with a watch draft, from one side (`main|left|right|bottom`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "draft_watch_image")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub draft_watch_id: i64,
    pub side: String,
    pub file_id: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
