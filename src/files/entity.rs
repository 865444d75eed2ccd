use sea_orm::entity::prelude::*;

pub const STATUS_ACTIVE: &str = "active";
pub const STATUS_DELETED: &str = "deleted";

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "files")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub file_id: i64,
    pub uid: String,
    pub file_key: String,
    pub original_name: String,
    pub mime_type: String,
    pub size: i64,
    pub sha256: String,
    pub storage: String,
    pub bucket_name: Option<String>,
    pub status: String,
    pub visibility: String,
    pub s3_url: Option<String>,
    pub expires_at: Option<DateTimeUtc>,
    pub uploaded_at: DateTimeUtc,
    pub added_user: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
