//! Accounts: users, their details and credentials, OAuth identities, sessions and tokens.
//! `files` is created here too because `user_details.profile_image_id` points at it.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    UserId,
    Username,
    Email,
    PhoneNumber,
    Role,
    IsActive,
    Rating,
    AvitoUrl,
    MeshokUrl,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Files {
    Table,
    FileId,
    Uid,
    FileKey,
    OriginalName,
    MimeType,
    Size,
    Sha256,
    Storage,
    BucketName,
    Status,
    Visibility,
    S3Url,
    ExpiresAt,
    UploadedAt,
    AddedUser,
}

#[derive(DeriveIden)]
enum UserDetails {
    Table,
    UserId,
    Description,
    ProfileImageId,
    LastLoginAt,
}

#[derive(DeriveIden)]
enum UserCredentials {
    Table,
    UserId,
    PasswordHash,
    PasswordEncryption,
}

#[derive(DeriveIden)]
enum OauthIdentities {
    Table,
    Id,
    Provider,
    Subject,
    UserId,
    Email,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    UserId,
    CreatedAt,
    LastSeenAt,
    UserAgent,
    Ip,
    RevokedAt,
}

#[derive(DeriveIden)]
enum Tokens {
    Table,
    Id,
    UserId,
    SessionId,
    Kind,
    TokenHash,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

fn timestamp(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

fn nullable_timestamp(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .null()
        .to_owned()
}

fn id(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .big_integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .to_owned()
}

fn user_fk(
    from_table: impl IntoIden + 'static,
    from_col: impl IntoIden + 'static,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(from_table, from_col)
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
                    .table(Users::Table)
                    .col(id(Users::UserId))
                    .col(ColumnDef::new(Users::Username).string_len(50).not_null())
                    .col(
                        ColumnDef::new(Users::Email)
                            .string_len(100)
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(Users::PhoneNumber).string_len(15).null())
                    .col(
                        ColumnDef::new(Users::Role)
                            .string_len(16)
                            .not_null()
                            .default("user"),
                    )
                    .col(
                        ColumnDef::new(Users::IsActive)
                            .boolean()
                            .not_null()
                            .default(true),
                    )
                    .col(
                        ColumnDef::new(Users::Rating)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(ColumnDef::new(Users::AvitoUrl).string_len(255).null())
                    .col(ColumnDef::new(Users::MeshokUrl).string_len(255).null())
                    .col(timestamp(Users::CreatedAt))
                    .col(timestamp(Users::UpdatedAt))
                    .check(Expr::col(Users::Role).is_in(["user", "moderator", "admin"]))
                    .to_owned(),
            )
            .await?;
        // Usernames are unique regardless of case; both backends support expression indexes.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX users_username_lower_key ON users (lower(username))",
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Files::Table)
                    .col(id(Files::FileId))
                    .col(
                        ColumnDef::new(Files::Uid)
                            .string_len(36)
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(Files::FileKey)
                            .string_len(512)
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(Files::OriginalName)
                            .string_len(255)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Files::MimeType).string_len(127).not_null())
                    .col(ColumnDef::new(Files::Size).big_integer().not_null())
                    .col(ColumnDef::new(Files::Sha256).string_len(64).not_null())
                    .col(ColumnDef::new(Files::Storage).string_len(16).not_null())
                    .col(ColumnDef::new(Files::BucketName).string_len(255).null())
                    .col(
                        ColumnDef::new(Files::Status)
                            .string_len(16)
                            .not_null()
                            .default("active"),
                    )
                    .col(
                        ColumnDef::new(Files::Visibility)
                            .string_len(16)
                            .not_null()
                            .default("private"),
                    )
                    .col(ColumnDef::new(Files::S3Url).text().null())
                    .col(nullable_timestamp(Files::ExpiresAt))
                    .col(timestamp(Files::UploadedAt))
                    .col(ColumnDef::new(Files::AddedUser).big_integer().null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(Files::Table, Files::AddedUser)
                            .to(Users::Table, Users::UserId)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(UserDetails::Table)
                    .col(
                        ColumnDef::new(UserDetails::UserId)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(UserDetails::Description).text().null())
                    .col(
                        ColumnDef::new(UserDetails::ProfileImageId)
                            .big_integer()
                            .null(),
                    )
                    .col(nullable_timestamp(UserDetails::LastLoginAt))
                    .foreign_key(&mut user_fk(UserDetails::Table, UserDetails::UserId))
                    .foreign_key(
                        ForeignKey::create()
                            .from(UserDetails::Table, UserDetails::ProfileImageId)
                            .to(Files::Table, Files::FileId)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(UserCredentials::Table)
                    .col(
                        ColumnDef::new(UserCredentials::UserId)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(UserCredentials::PasswordHash).text().null())
                    .col(
                        ColumnDef::new(UserCredentials::PasswordEncryption)
                            .string_len(16)
                            .not_null()
                            .default("argon2id"),
                    )
                    .foreign_key(&mut user_fk(
                        UserCredentials::Table,
                        UserCredentials::UserId,
                    ))
                    .check(
                        Expr::col(UserCredentials::PasswordEncryption)
                            .is_in(["argon2id", "bcrypt", "none"]),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(OauthIdentities::Table)
                    .col(id(OauthIdentities::Id))
                    .col(
                        ColumnDef::new(OauthIdentities::Provider)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OauthIdentities::Subject)
                            .string_len(255)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OauthIdentities::UserId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OauthIdentities::Email)
                            .string_len(100)
                            .null(),
                    )
                    .col(timestamp(OauthIdentities::CreatedAt))
                    .foreign_key(&mut user_fk(
                        OauthIdentities::Table,
                        OauthIdentities::UserId,
                    ))
                    .index(
                        Index::create()
                            .name("oauth_identities_provider_subject_key")
                            .col(OauthIdentities::Provider)
                            .col(OauthIdentities::Subject)
                            .unique(),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .col(id(Sessions::Id))
                    .col(ColumnDef::new(Sessions::UserId).big_integer().not_null())
                    .col(timestamp(Sessions::CreatedAt))
                    .col(timestamp(Sessions::LastSeenAt))
                    .col(ColumnDef::new(Sessions::UserAgent).string_len(255).null())
                    .col(ColumnDef::new(Sessions::Ip).string_len(64).null())
                    .col(nullable_timestamp(Sessions::RevokedAt))
                    .foreign_key(&mut user_fk(Sessions::Table, Sessions::UserId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("sessions_user_id_idx")
                    .table(Sessions::Table)
                    .col(Sessions::UserId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Tokens::Table)
                    .col(id(Tokens::Id))
                    .col(ColumnDef::new(Tokens::UserId).big_integer().not_null())
                    .col(ColumnDef::new(Tokens::SessionId).big_integer().null())
                    .col(ColumnDef::new(Tokens::Kind).string_len(32).not_null())
                    .col(
                        ColumnDef::new(Tokens::TokenHash)
                            .string_len(64)
                            .not_null()
                            .unique_key(),
                    )
                    .col(timestamp(Tokens::CreatedAt))
                    .col(timestamp(Tokens::ExpiresAt))
                    .col(nullable_timestamp(Tokens::UsedAt))
                    .foreign_key(&mut user_fk(Tokens::Table, Tokens::UserId))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Tokens::Table, Tokens::SessionId)
                            .to(Sessions::Table, Sessions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .check(Expr::col(Tokens::Kind).is_in([
                        "refresh",
                        "password_reset",
                        "email_verify",
                    ]))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("tokens_session_id_idx")
                    .table(Tokens::Table)
                    .col(Tokens::SessionId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("tokens_user_id_idx")
                    .table(Tokens::Table)
                    .col(Tokens::UserId)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Tokens::Table.into_iden(),
            Sessions::Table.into_iden(),
            OauthIdentities::Table.into_iden(),
            UserCredentials::Table.into_iden(),
            UserDetails::Table.into_iden(),
            Files::Table.into_iden(),
            Users::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
