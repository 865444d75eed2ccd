//! Photos of watch drafts by side: a member proposes photos with a new watch or an edit,
//! and an approval publishes them into `watch_image`.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum DraftWatchImage {
    Table,
    Id,
    DraftWatchId,
    Side,
    FileId,
}

#[derive(DeriveIden)]
enum DraftWatch {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Files {
    Table,
    FileId,
}

const SIDE_KEY: &str = "draft_watch_image_side_key";
const FILE_IDX: &str = "draft_watch_image_file_idx";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DraftWatchImage::Table)
                    .col(
                        ColumnDef::new(DraftWatchImage::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(DraftWatchImage::DraftWatchId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(DraftWatchImage::Side)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(DraftWatchImage::FileId)
                            .big_integer()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(DraftWatchImage::Table, DraftWatchImage::DraftWatchId)
                            .to(DraftWatch::Table, DraftWatch::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(DraftWatchImage::Table, DraftWatchImage::FileId)
                            .to(Files::Table, Files::FileId)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .check(
                        Expr::col(DraftWatchImage::Side).is_in(["main", "left", "right", "bottom"]),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(SIDE_KEY)
                    .table(DraftWatchImage::Table)
                    .col(DraftWatchImage::DraftWatchId)
                    .col(DraftWatchImage::Side)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // the read grant and the janitor look photos up by file
        manager
            .create_index(
                Index::create()
                    .name(FILE_IDX)
                    .table(DraftWatchImage::Table)
                    .col(DraftWatchImage::FileId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(DraftWatchImage::Table).to_owned())
            .await
    }
}
