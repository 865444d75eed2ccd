use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mechanism")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The calibre, e.g. `2609.HA`.
    pub name: String,
    /// Number of jewels.
    pub stones: Option<i32>,
    pub start_release: Option<i32>,
    pub end_release: Option<i32>,
    pub mechanism_type_id: Option<i64>,
    pub factory_id: Option<i64>,
    pub user_id: Option<i64>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
