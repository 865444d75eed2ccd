//! Avatars (seed 001): a member's uploaded or generated pictures, at most one active.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Avatars {
    Table,
    AvatarId,
    UserId,
    FileId,
    IsActive,
    IsRandom,
    UploadedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    UserId,
}

#[derive(DeriveIden)]
enum Files {
    Table,
    FileId,
    AddedUser,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Avatars::Table)
                    .col(
                        ColumnDef::new(Avatars::AvatarId)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Avatars::UserId).big_integer().not_null())
                    .col(ColumnDef::new(Avatars::FileId).big_integer().not_null())
                    .col(
                        ColumnDef::new(Avatars::IsActive)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(
                        ColumnDef::new(Avatars::IsRandom)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(
                        ColumnDef::new(Avatars::UploadedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Avatars::Table, Avatars::UserId)
                            .to(Users::Table, Users::UserId)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Avatars::Table, Avatars::FileId)
                            .to(Files::Table, Files::FileId)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("avatars_user_id_idx")
                    .table(Avatars::Table)
                    .col(Avatars::UserId)
                    .to_owned(),
            )
            .await?;
        // at most one active avatar per member; both backends support partial indexes
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX avatars_one_active_per_user ON avatars (user_id) WHERE is_active",
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("files_added_user_idx")
                    .table(Files::Table)
                    .col(Files::AddedUser)
                    .col(Files::FileId)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("files_added_user_idx")
                    .table(Files::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(Avatars::Table).to_owned())
            .await
    }
}
