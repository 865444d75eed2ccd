//! The watch catalog (seed 004): reference tables, mechanisms, watches with aliases and
//! photos, members' collections, drafts under moderation, and the search index.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The reference tables: `id, name unique`.
pub const REFERENCE_TABLES: [&str; 6] = [
    "brand",
    "factory",
    "case_material",
    "gender",
    "mechanism_type",
    "function",
];

#[derive(DeriveIden)]
enum Users {
    Table,
    UserId,
}

#[derive(DeriveIden)]
enum Files {
    Table,
    FileId,
}

#[derive(DeriveIden)]
#[allow(clippy::enum_variant_names)]
enum Mechanism {
    Table,
    Id,
    Name,
    Stones,
    StartRelease,
    EndRelease,
    MechanismTypeId,
    FactoryId,
    UserId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum MechanismFunction {
    Table,
    Id,
    MechanismId,
    FunctionId,
}

#[derive(DeriveIden)]
enum Watch {
    Table,
    Id,
    Folder,
    Code,
    IntegratedBracelet,
    StartRelease,
    EndRelease,
    GenderId,
    CaseMaterialId,
    MechanismId,
    FactoryId,
    BrandId,
    UserId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WatchAlias {
    #[sea_orm(iden = "alias")]
    Table,
    Id,
    WatchId,
    Key,
}

#[derive(DeriveIden)]
enum WatchImage {
    Table,
    Id,
    WatchId,
    Side,
    FileId,
}

#[derive(DeriveIden)]
enum Collection {
    Table,
    Id,
    UserId,
    WatchId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum WatchSearchToken {
    Table,
    WatchId,
    Token,
}

#[derive(DeriveIden)]
enum DraftWatch {
    Table,
    Id,
    Status,
    TargetId,
    Message,
    Folder,
    Code,
    IntegratedBracelet,
    StartRelease,
    EndRelease,
    GenderId,
    CaseMaterialId,
    MechanismId,
    FactoryId,
    BrandId,
    UserId,
    ReviewedBy,
    CreatedAt,
    UpdatedAt,
    SubmittedAt,
    ReviewedAt,
}

#[derive(DeriveIden)]
enum DraftAlias {
    Table,
    Id,
    DraftWatchId,
    Key,
}

#[derive(DeriveIden)]
#[allow(clippy::enum_variant_names)]
enum DraftMechanism {
    Table,
    Id,
    Status,
    TargetId,
    Message,
    Name,
    Stones,
    StartRelease,
    EndRelease,
    MechanismTypeId,
    FactoryId,
    UserId,
    ReviewedBy,
    CreatedAt,
    UpdatedAt,
    SubmittedAt,
    ReviewedAt,
}

#[derive(DeriveIden)]
enum DraftMechanismFunction {
    Table,
    Id,
    DraftMechanismId,
    FunctionId,
}

fn pk(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .big_integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .to_owned()
}

fn fk_col(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).big_integer().null().to_owned()
}

fn year(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).integer().null().to_owned()
}

fn at(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

fn at_null(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .null()
        .to_owned()
}

/// A reference to a row of a reference table: deleting the row in use is refused.
fn reference(
    from: impl IntoIden + 'static,
    col: impl IntoIden + 'static,
    table: &'static str,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(from, col)
        .to(Alias::new(table), Alias::new("id"))
        .on_delete(ForeignKeyAction::Restrict)
        .to_owned()
}

fn author(
    from: impl IntoIden + 'static,
    col: impl IntoIden + 'static,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(from, col)
        .to(Users::Table, Users::UserId)
        .on_delete(ForeignKeyAction::SetNull)
        .to_owned()
}

async fn index(
    manager: &SchemaManager<'_>,
    name: &str,
    table: impl IntoIden + 'static,
    cols: Vec<DynIden>,
    unique: bool,
) -> Result<(), DbErr> {
    let mut statement = Index::create();
    statement.name(name).table(table);
    for col in cols {
        statement.col(col);
    }
    if unique {
        statement.unique();
    }
    manager.create_index(statement.to_owned()).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in REFERENCE_TABLES {
            manager
                .create_table(
                    Table::create()
                        .table(Alias::new(table))
                        .col(pk(Alias::new("id")))
                        .col(
                            ColumnDef::new(Alias::new("name"))
                                .string_len(100)
                                .not_null()
                                .unique_key(),
                        )
                        .to_owned(),
                )
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(Mechanism::Table)
                    .col(pk(Mechanism::Id))
                    .col(ColumnDef::new(Mechanism::Name).string_len(100).not_null())
                    .col(ColumnDef::new(Mechanism::Stones).integer().null())
                    .col(year(Mechanism::StartRelease))
                    .col(year(Mechanism::EndRelease))
                    .col(fk_col(Mechanism::MechanismTypeId))
                    .col(fk_col(Mechanism::FactoryId))
                    .col(fk_col(Mechanism::UserId))
                    .col(at(Mechanism::CreatedAt))
                    .col(at(Mechanism::UpdatedAt))
                    .foreign_key(&mut reference(
                        Mechanism::Table,
                        Mechanism::MechanismTypeId,
                        "mechanism_type",
                    ))
                    .foreign_key(&mut reference(
                        Mechanism::Table,
                        Mechanism::FactoryId,
                        "factory",
                    ))
                    .foreign_key(&mut author(Mechanism::Table, Mechanism::UserId))
                    .check(
                        Expr::col(Mechanism::EndRelease)
                            .gte(Expr::col(Mechanism::StartRelease))
                            .or(Expr::col(Mechanism::EndRelease).is_null())
                            .or(Expr::col(Mechanism::StartRelease).is_null()),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(MechanismFunction::Table)
                    .col(pk(MechanismFunction::Id))
                    .col(
                        ColumnDef::new(MechanismFunction::MechanismId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(MechanismFunction::FunctionId)
                            .big_integer()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(MechanismFunction::Table, MechanismFunction::MechanismId)
                            .to(Mechanism::Table, Mechanism::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(&mut reference(
                        MechanismFunction::Table,
                        MechanismFunction::FunctionId,
                        "function",
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "mechanism_function_pair_key",
            MechanismFunction::Table,
            vec![
                MechanismFunction::MechanismId.into_iden(),
                MechanismFunction::FunctionId.into_iden(),
            ],
            true,
        )
        .await?;
        index(
            manager,
            "mechanism_function_function_idx",
            MechanismFunction::Table,
            vec![MechanismFunction::FunctionId.into_iden()],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Watch::Table)
                    .col(pk(Watch::Id))
                    .col(
                        ColumnDef::new(Watch::Folder)
                            .string_len(100)
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(Watch::Code)
                            .string_len(100)
                            .null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(Watch::IntegratedBracelet)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(year(Watch::StartRelease))
                    .col(year(Watch::EndRelease))
                    .col(fk_col(Watch::GenderId))
                    .col(fk_col(Watch::CaseMaterialId))
                    .col(fk_col(Watch::MechanismId))
                    .col(fk_col(Watch::FactoryId))
                    .col(fk_col(Watch::BrandId))
                    .col(fk_col(Watch::UserId))
                    .col(at(Watch::CreatedAt))
                    .col(at(Watch::UpdatedAt))
                    .foreign_key(&mut reference(Watch::Table, Watch::GenderId, "gender"))
                    .foreign_key(&mut reference(
                        Watch::Table,
                        Watch::CaseMaterialId,
                        "case_material",
                    ))
                    .foreign_key(&mut reference(
                        Watch::Table,
                        Watch::MechanismId,
                        "mechanism",
                    ))
                    .foreign_key(&mut reference(Watch::Table, Watch::FactoryId, "factory"))
                    .foreign_key(&mut reference(Watch::Table, Watch::BrandId, "brand"))
                    .foreign_key(&mut author(Watch::Table, Watch::UserId))
                    .check(
                        Expr::col(Watch::EndRelease)
                            .gte(Expr::col(Watch::StartRelease))
                            .or(Expr::col(Watch::EndRelease).is_null())
                            .or(Expr::col(Watch::StartRelease).is_null()),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("watch_brand_idx", Watch::BrandId),
            ("watch_factory_idx", Watch::FactoryId),
            ("watch_gender_idx", Watch::GenderId),
            ("watch_case_material_idx", Watch::CaseMaterialId),
            ("watch_mechanism_idx", Watch::MechanismId),
            ("watch_start_release_idx", Watch::StartRelease),
        ] {
            index(
                manager,
                name,
                Watch::Table,
                vec![col.into_iden(), Watch::Id.into_iden()],
                false,
            )
            .await?;
        }
        // a brand's watches by release year, a page at a time without sorting them all
        index(
            manager,
            "watch_brand_start_release_idx",
            Watch::Table,
            vec![
                Watch::BrandId.into_iden(),
                Watch::StartRelease.into_iden(),
                Watch::Id.into_iden(),
            ],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(WatchAlias::Table)
                    .col(pk(WatchAlias::Id))
                    .col(ColumnDef::new(WatchAlias::WatchId).big_integer().not_null())
                    .col(ColumnDef::new(WatchAlias::Key).string_len(100).not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(WatchAlias::Table, WatchAlias::WatchId)
                            .to(Watch::Table, Watch::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "alias_watch_idx",
            WatchAlias::Table,
            vec![WatchAlias::WatchId.into_iden()],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(WatchImage::Table)
                    .col(pk(WatchImage::Id))
                    .col(ColumnDef::new(WatchImage::WatchId).big_integer().not_null())
                    .col(ColumnDef::new(WatchImage::Side).string_len(16).not_null())
                    .col(ColumnDef::new(WatchImage::FileId).big_integer().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(WatchImage::Table, WatchImage::WatchId)
                            .to(Watch::Table, Watch::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(WatchImage::Table, WatchImage::FileId)
                            .to(Files::Table, Files::FileId)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .check(Expr::col(WatchImage::Side).is_in(["main", "left", "right", "bottom"]))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "watch_image_side_key",
            WatchImage::Table,
            vec![
                WatchImage::WatchId.into_iden(),
                WatchImage::Side.into_iden(),
            ],
            true,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Collection::Table)
                    .col(pk(Collection::Id))
                    .col(ColumnDef::new(Collection::UserId).big_integer().not_null())
                    .col(ColumnDef::new(Collection::WatchId).big_integer().not_null())
                    .col(at(Collection::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Collection::Table, Collection::UserId)
                            .to(Users::Table, Users::UserId)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Collection::Table, Collection::WatchId)
                            .to(Watch::Table, Watch::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "collection_pair_key",
            Collection::Table,
            vec![
                Collection::UserId.into_iden(),
                Collection::WatchId.into_iden(),
            ],
            true,
        )
        .await?;
        index(
            manager,
            "collection_watch_idx",
            Collection::Table,
            vec![Collection::WatchId.into_iden()],
            false,
        )
        .await?;

        // The search index: normalised word tokens of each watch's folder, code, aliases
        // and brand name; a prefix search is a range scan of the primary key.
        manager
            .create_table(
                Table::create()
                    .table(WatchSearchToken::Table)
                    .col(
                        ColumnDef::new(WatchSearchToken::Token)
                            .string_len(100)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(WatchSearchToken::WatchId)
                            .big_integer()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(WatchSearchToken::Token)
                            .col(WatchSearchToken::WatchId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(WatchSearchToken::Table, WatchSearchToken::WatchId)
                            .to(Watch::Table, Watch::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "watch_search_token_watch_idx",
            WatchSearchToken::Table,
            vec![WatchSearchToken::WatchId.into_iden()],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(DraftWatch::Table)
                    .col(pk(DraftWatch::Id))
                    .col(
                        ColumnDef::new(DraftWatch::Status)
                            .string_len(16)
                            .not_null()
                            .default("draft"),
                    )
                    .col(fk_col(DraftWatch::TargetId))
                    .col(ColumnDef::new(DraftWatch::Message).text().null())
                    .col(ColumnDef::new(DraftWatch::Folder).string_len(100).null())
                    .col(ColumnDef::new(DraftWatch::Code).string_len(100).null())
                    .col(
                        ColumnDef::new(DraftWatch::IntegratedBracelet)
                            .boolean()
                            .null(),
                    )
                    .col(year(DraftWatch::StartRelease))
                    .col(year(DraftWatch::EndRelease))
                    .col(fk_col(DraftWatch::GenderId))
                    .col(fk_col(DraftWatch::CaseMaterialId))
                    .col(fk_col(DraftWatch::MechanismId))
                    .col(fk_col(DraftWatch::FactoryId))
                    .col(fk_col(DraftWatch::BrandId))
                    .col(ColumnDef::new(DraftWatch::UserId).big_integer().not_null())
                    .col(fk_col(DraftWatch::ReviewedBy))
                    .col(at(DraftWatch::CreatedAt))
                    .col(at(DraftWatch::UpdatedAt))
                    .col(at_null(DraftWatch::SubmittedAt))
                    .col(at_null(DraftWatch::ReviewedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(DraftWatch::Table, DraftWatch::TargetId)
                            .to(Watch::Table, Watch::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(&mut reference(
                        DraftWatch::Table,
                        DraftWatch::GenderId,
                        "gender",
                    ))
                    .foreign_key(&mut reference(
                        DraftWatch::Table,
                        DraftWatch::CaseMaterialId,
                        "case_material",
                    ))
                    .foreign_key(&mut reference(
                        DraftWatch::Table,
                        DraftWatch::MechanismId,
                        "mechanism",
                    ))
                    .foreign_key(&mut reference(
                        DraftWatch::Table,
                        DraftWatch::FactoryId,
                        "factory",
                    ))
                    .foreign_key(&mut reference(
                        DraftWatch::Table,
                        DraftWatch::BrandId,
                        "brand",
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .from(DraftWatch::Table, DraftWatch::UserId)
                            .to(Users::Table, Users::UserId)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(&mut author(DraftWatch::Table, DraftWatch::ReviewedBy))
                    .check(Expr::col(DraftWatch::Status).is_in([
                        "draft",
                        "submitted",
                        "approved",
                        "rejected",
                    ]))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "draft_watch_user_idx",
            DraftWatch::Table,
            vec![DraftWatch::UserId.into_iden(), DraftWatch::Id.into_iden()],
            false,
        )
        .await?;
        index(
            manager,
            "draft_watch_status_idx",
            DraftWatch::Table,
            vec![DraftWatch::Status.into_iden(), DraftWatch::Id.into_iden()],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(DraftAlias::Table)
                    .col(pk(DraftAlias::Id))
                    .col(
                        ColumnDef::new(DraftAlias::DraftWatchId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(DraftAlias::Key).string_len(100).not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(DraftAlias::Table, DraftAlias::DraftWatchId)
                            .to(DraftWatch::Table, DraftWatch::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "draft_alias_draft_idx",
            DraftAlias::Table,
            vec![DraftAlias::DraftWatchId.into_iden()],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(DraftMechanism::Table)
                    .col(pk(DraftMechanism::Id))
                    .col(
                        ColumnDef::new(DraftMechanism::Status)
                            .string_len(16)
                            .not_null()
                            .default("draft"),
                    )
                    .col(fk_col(DraftMechanism::TargetId))
                    .col(ColumnDef::new(DraftMechanism::Message).text().null())
                    .col(ColumnDef::new(DraftMechanism::Name).string_len(100).null())
                    .col(ColumnDef::new(DraftMechanism::Stones).integer().null())
                    .col(year(DraftMechanism::StartRelease))
                    .col(year(DraftMechanism::EndRelease))
                    .col(fk_col(DraftMechanism::MechanismTypeId))
                    .col(fk_col(DraftMechanism::FactoryId))
                    .col(
                        ColumnDef::new(DraftMechanism::UserId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(fk_col(DraftMechanism::ReviewedBy))
                    .col(at(DraftMechanism::CreatedAt))
                    .col(at(DraftMechanism::UpdatedAt))
                    .col(at_null(DraftMechanism::SubmittedAt))
                    .col(at_null(DraftMechanism::ReviewedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(DraftMechanism::Table, DraftMechanism::TargetId)
                            .to(Mechanism::Table, Mechanism::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(&mut reference(
                        DraftMechanism::Table,
                        DraftMechanism::MechanismTypeId,
                        "mechanism_type",
                    ))
                    .foreign_key(&mut reference(
                        DraftMechanism::Table,
                        DraftMechanism::FactoryId,
                        "factory",
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .from(DraftMechanism::Table, DraftMechanism::UserId)
                            .to(Users::Table, Users::UserId)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(&mut author(
                        DraftMechanism::Table,
                        DraftMechanism::ReviewedBy,
                    ))
                    .check(Expr::col(DraftMechanism::Status).is_in([
                        "draft",
                        "submitted",
                        "approved",
                        "rejected",
                    ]))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "draft_mechanism_user_idx",
            DraftMechanism::Table,
            vec![
                DraftMechanism::UserId.into_iden(),
                DraftMechanism::Id.into_iden(),
            ],
            false,
        )
        .await?;
        index(
            manager,
            "draft_mechanism_status_idx",
            DraftMechanism::Table,
            vec![
                DraftMechanism::Status.into_iden(),
                DraftMechanism::Id.into_iden(),
            ],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(DraftMechanismFunction::Table)
                    .col(pk(DraftMechanismFunction::Id))
                    .col(
                        ColumnDef::new(DraftMechanismFunction::DraftMechanismId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(DraftMechanismFunction::FunctionId)
                            .big_integer()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(
                                DraftMechanismFunction::Table,
                                DraftMechanismFunction::DraftMechanismId,
                            )
                            .to(DraftMechanism::Table, DraftMechanism::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(&mut reference(
                        DraftMechanismFunction::Table,
                        DraftMechanismFunction::FunctionId,
                        "function",
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "draft_mechanism_function_pair_key",
            DraftMechanismFunction::Table,
            vec![
                DraftMechanismFunction::DraftMechanismId.into_iden(),
                DraftMechanismFunction::FunctionId.into_iden(),
            ],
            true,
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut tables: Vec<DynIden> = vec![
            DraftMechanismFunction::Table.into_iden(),
            DraftMechanism::Table.into_iden(),
            DraftAlias::Table.into_iden(),
            DraftWatch::Table.into_iden(),
            WatchSearchToken::Table.into_iden(),
            Collection::Table.into_iden(),
            WatchImage::Table.into_iden(),
            WatchAlias::Table.into_iden(),
            Watch::Table.into_iden(),
            MechanismFunction::Table.into_iden(),
            Mechanism::Table.into_iden(),
        ];
        tables.extend(
            REFERENCE_TABLES
                .iter()
                .map(|name| Alias::new(*name).into_iden()),
        );
        for table in tables {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
