//! Presence: when each member was last connected, whether they show it, and the leases
//! by which each server process says "this member has a socket here".

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Presence {
    Table,
    UserId,
    Hidden,
    LastSeenAt,
}

#[derive(DeriveIden)]
enum PresenceLeases {
    Table,
    UserId,
    Instance,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    UserId,
}

fn user_fk(
    table: impl IntoIden + 'static,
    column: impl IntoIden + 'static,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(table, column)
        .to(Users::Table, Users::UserId)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Presence::Table)
                    .col(
                        ColumnDef::new(Presence::UserId)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(Presence::Hidden)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(ColumnDef::new(Presence::LastSeenAt).timestamp_with_time_zone())
                    .foreign_key(&mut user_fk(Presence::Table, Presence::UserId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PresenceLeases::Table)
                    .col(
                        ColumnDef::new(PresenceLeases::UserId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(PresenceLeases::Instance)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(PresenceLeases::ExpiresAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(PresenceLeases::UserId)
                            .col(PresenceLeases::Instance),
                    )
                    .foreign_key(&mut user_fk(PresenceLeases::Table, PresenceLeases::UserId))
                    .to_owned(),
            )
            .await?;
        // the sweep of leases whose process stopped renewing them
        manager
            .create_index(
                Index::create()
                    .name("presence_leases_expires_at")
                    .table(PresenceLeases::Table)
                    .col(PresenceLeases::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PresenceLeases::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Presence::Table).to_owned())
            .await
    }
}
