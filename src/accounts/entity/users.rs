use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub user_id: i64,
    pub username: String,
    pub email: String,
    pub phone_number: Option<String>,
    pub role: String,
    pub is_active: bool,
    pub rating: i32,
    pub avito_url: Option<String>,
    pub meshok_url: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_one = "super::user_details::Entity")]
    UserDetails,
    #[sea_orm(has_many = "super::sessions::Entity")]
    Sessions,
}

impl Related<super::user_details::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::UserDetails.def()
    }
}

impl Related<super::sessions::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Sessions.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
