//! Lists read less per row. A watch keeps its title (the first alias, which lists show)
//! beside its other columns, instead of each list row looking it up in `alias`; and the
//! release-year indexes carry the bracelet and end year, so the filters most lists use
//! are checked on the index and only a page's rows are read from the table.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Watch {
    Table,
    Id,
    Title,
    BrandId,
    StartRelease,
    EndRelease,
    IntegratedBracelet,
}

/// The release-year indexes before (plain) and after (carrying the filtered columns):
/// each new one has a name of its own, so it exists before the old one is dropped.
const YEAR_INDEXES: [(&str, &str, bool); 2] = [
    (
        "watch_brand_start_release_idx",
        "watch_brand_year_list_idx",
        true,
    ),
    ("watch_start_release_idx", "watch_year_list_idx", false),
];

fn year_index(name: &str, with_brand: bool, carrying: bool) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(Watch::Table);
    if with_brand {
        index.col(Watch::BrandId);
    }
    index.col(Watch::StartRelease).col(Watch::Id);
    if carrying {
        index.col(Watch::IntegratedBracelet).col(Watch::EndRelease);
    }
    index.to_owned()
}

/// Creates the carrying indexes and drops the plain ones, or (`carrying` false) back.
async fn replace_year_indexes(manager: &SchemaManager<'_>, carrying: bool) -> Result<(), DbErr> {
    for (plain, listing, with_brand) in YEAR_INDEXES {
        let (new, old) = if carrying {
            (listing, plain)
        } else {
            (plain, listing)
        };
        manager
            .create_index(year_index(new, with_brand, carrying))
            .await?;
        manager
            .drop_index(Index::drop().name(old).table(Watch::Table).to_owned())
            .await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Watch::Table)
                    .add_column(ColumnDef::new(Watch::Title).string_len(100).null())
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE watch SET title = (SELECT alias.key FROM alias \
                 WHERE alias.watch_id = watch.id ORDER BY alias.id LIMIT 1)",
            )
            .await?;
        replace_year_indexes(manager, true).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        replace_year_indexes(manager, false).await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Watch::Table)
                    .drop_column(Watch::Title)
                    .to_owned(),
            )
            .await
    }
}
