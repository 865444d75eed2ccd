//! The messenger (seed 001): chats, their participants, an event log with a gap-free
//! sequence number per chat, and messages.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Chats {
    Table,
    Id,
    ChatType,
    Name,
    PrivateKey,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
    LastSeq,
    LastMessageId,
}

#[derive(DeriveIden)]
enum ChatParticipants {
    Table,
    ChatId,
    UserId,
    Role,
    JoinedAt,
    JoinedSeq,
    ReadSeq,
    DeliveredSeq,
}

#[derive(DeriveIden)]
enum ChatEvents {
    Table,
    ChatId,
    Seq,
    Kind,
    MessageId,
    ActorId,
    SubjectId,
    At,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Id,
    ChatId,
    Seq,
    SenderId,
    ClientId,
    Text,
    ReplyToId,
    SentAt,
    EditedAt,
    DeletedAt,
}

#[derive(DeriveIden)]
enum MessageSearchToken {
    Table,
    Token,
    MessageId,
    ChatId,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    UserId,
}

fn timestamp(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

fn id(column: impl IntoIden) -> ColumnDef {
    ColumnDef::new(column)
        .big_integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .to_owned()
}

fn user_fk(
    table: impl IntoIden + 'static,
    column: impl IntoIden + 'static,
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(table, column)
        .to(Users::Table, Users::UserId)
        .on_delete(on_delete)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Chats::Table)
                    .col(id(Chats::Id))
                    .col(ColumnDef::new(Chats::ChatType).string_len(10).not_null())
                    .col(ColumnDef::new(Chats::Name).string_len(100))
                    // "{smaller user id}:{larger user id}" of a private chat: one per pair
                    .col(
                        ColumnDef::new(Chats::PrivateKey)
                            .string_len(41)
                            .unique_key(),
                    )
                    .col(ColumnDef::new(Chats::CreatedBy).big_integer())
                    .col(timestamp(Chats::CreatedAt))
                    .col(timestamp(Chats::UpdatedAt))
                    .col(
                        ColumnDef::new(Chats::LastSeq)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(ColumnDef::new(Chats::LastMessageId).big_integer())
                    .foreign_key(&mut user_fk(
                        Chats::Table,
                        Chats::CreatedBy,
                        ForeignKeyAction::SetNull,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ChatParticipants::Table)
                    .col(
                        ColumnDef::new(ChatParticipants::ChatId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ChatParticipants::UserId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ChatParticipants::Role)
                            .string_len(10)
                            .not_null(),
                    )
                    .col(timestamp(ChatParticipants::JoinedAt))
                    // the event that brought them in: what a socket shows them starts there
                    .col(
                        ColumnDef::new(ChatParticipants::JoinedSeq)
                            .big_integer()
                            .not_null()
                            .default(1),
                    )
                    .col(
                        ColumnDef::new(ChatParticipants::ReadSeq)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(ChatParticipants::DeliveredSeq)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .primary_key(
                        Index::create()
                            .col(ChatParticipants::ChatId)
                            .col(ChatParticipants::UserId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ChatParticipants::Table, ChatParticipants::ChatId)
                            .to(Chats::Table, Chats::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(&mut user_fk(
                        ChatParticipants::Table,
                        ChatParticipants::UserId,
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("chat_participants_user_idx")
                    .table(ChatParticipants::Table)
                    .col(ChatParticipants::UserId)
                    .col(ChatParticipants::ChatId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ChatEvents::Table)
                    .col(ColumnDef::new(ChatEvents::ChatId).big_integer().not_null())
                    .col(ColumnDef::new(ChatEvents::Seq).big_integer().not_null())
                    .col(ColumnDef::new(ChatEvents::Kind).string_len(32).not_null())
                    .col(ColumnDef::new(ChatEvents::MessageId).big_integer())
                    .col(ColumnDef::new(ChatEvents::ActorId).big_integer())
                    .col(ColumnDef::new(ChatEvents::SubjectId).big_integer())
                    .col(timestamp(ChatEvents::At))
                    .primary_key(Index::create().col(ChatEvents::ChatId).col(ChatEvents::Seq))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ChatEvents::Table, ChatEvents::ChatId)
                            .to(Chats::Table, Chats::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Messages::Table)
                    .col(id(Messages::Id))
                    .col(ColumnDef::new(Messages::ChatId).big_integer().not_null())
                    .col(ColumnDef::new(Messages::Seq).big_integer().not_null())
                    .col(ColumnDef::new(Messages::SenderId).big_integer())
                    .col(ColumnDef::new(Messages::ClientId).string_len(64))
                    .col(ColumnDef::new(Messages::Text).text().not_null())
                    .col(ColumnDef::new(Messages::ReplyToId).big_integer())
                    .col(timestamp(Messages::SentAt))
                    .col(ColumnDef::new(Messages::EditedAt).timestamp_with_time_zone())
                    .col(ColumnDef::new(Messages::DeletedAt).timestamp_with_time_zone())
                    .foreign_key(
                        ForeignKey::create()
                            .from(Messages::Table, Messages::ChatId)
                            .to(Chats::Table, Chats::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(&mut user_fk(
                        Messages::Table,
                        Messages::SenderId,
                        ForeignKeyAction::SetNull,
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Messages::Table, Messages::ReplyToId)
                            .to(Messages::Table, Messages::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("messages_chat_seq_key")
                    .table(Messages::Table)
                    .col(Messages::ChatId)
                    .col(Messages::Seq)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // a retried send (same sender, chat and client nonce) finds the first one
        manager
            .create_index(
                Index::create()
                    .name("messages_client_id_key")
                    .table(Messages::Table)
                    .col(Messages::ChatId)
                    .col(Messages::SenderId)
                    .col(Messages::ClientId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // a message's words: each query word is a range scan of the primary key
        manager
            .create_table(
                Table::create()
                    .table(MessageSearchToken::Table)
                    .col(
                        ColumnDef::new(MessageSearchToken::Token)
                            .string_len(40)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(MessageSearchToken::MessageId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(MessageSearchToken::ChatId)
                            .big_integer()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(MessageSearchToken::Token)
                            .col(MessageSearchToken::MessageId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(MessageSearchToken::Table, MessageSearchToken::MessageId)
                            .to(Messages::Table, Messages::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("message_search_token_message_idx")
                    .table(MessageSearchToken::Table)
                    .col(MessageSearchToken::MessageId)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            MessageSearchToken::Table.into_iden(),
            Messages::Table.into_iden(),
            ChatEvents::Table.into_iden(),
            ChatParticipants::Table.into_iden(),
            Chats::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
