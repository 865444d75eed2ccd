use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "watch")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The folder its photos live in; unique.
    pub folder: String,
    /// The dial/design number; unique when present.
    pub code: Option<String>,
    pub integrated_bracelet: bool,
    pub start_release: Option<i32>,
    pub end_release: Option<i32>,
    pub gender_id: Option<i64>,
    pub case_material_id: Option<i64>,
    pub mechanism_id: Option<i64>,
    pub factory_id: Option<i64>,
    pub brand_id: Option<i64>,
    pub user_id: Option<i64>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// The column `title`: the watch's first alias, which lists show. It is not in the
/// model: `watches::repo::insert_aliases` keeps it, so a list row needs no alias lookup.
#[derive(DeriveIden)]
pub struct Title;
