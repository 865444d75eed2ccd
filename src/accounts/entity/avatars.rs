use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "avatars")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub avatar_id: i64,
    pub user_id: i64,
    pub file_id: i64,
    pub is_active: bool,
    pub is_random: bool,
    pub uploaded_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "crate::files::entity::Entity",
        from = "Column::FileId",
        to = "crate::files::entity::Column::FileId"
    )]
    Files,
}

impl Related<crate::files::entity::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Files.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
