use sea_orm::entity::prelude::*;

/// A member's proposal of a new watch (`target_id` null) or of changes to one.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "draft_watch")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `draft|submitted|approved|rejected`
    pub status: String,
    pub target_id: Option<i64>,
    /// The moderator's comment.
    pub message: Option<String>,
    pub folder: Option<String>,
    pub code: Option<String>,
    pub integrated_bracelet: Option<bool>,
    pub start_release: Option<i32>,
    pub end_release: Option<i32>,
    pub gender_id: Option<i64>,
    pub case_material_id: Option<i64>,
    pub mechanism_id: Option<i64>,
    pub factory_id: Option<i64>,
    pub brand_id: Option<i64>,
    pub user_id: i64,
    pub reviewed_by: Option<i64>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub submitted_at: Option<DateTimeUtc>,
    pub reviewed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
