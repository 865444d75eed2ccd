//! Attachments of chat messages: which files a message carries, in order, and of what
//! kind. The chat id is kept on each row so that a chat's media list and the check
//! "may this member read this file through a chat" are each one index range.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum MessageAttachments {
    Table,
    Id,
    MessageId,
    ChatId,
    FileId,
    Kind,
    Position,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Chats {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Files {
    Table,
    FileId,
}

fn index(name: &str, columns: Vec<MessageAttachments>, unique: bool) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(MessageAttachments::Table);
    for column in columns {
        index.col(column);
    }
    if unique {
        index.unique();
    }
    index.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let big =
            |column: MessageAttachments| ColumnDef::new(column).big_integer().not_null().to_owned();
        manager
            .create_table(
                Table::create()
                    .table(MessageAttachments::Table)
                    .col(
                        ColumnDef::new(MessageAttachments::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(big(MessageAttachments::MessageId))
                    .col(big(MessageAttachments::ChatId))
                    .col(big(MessageAttachments::FileId))
                    .col(
                        ColumnDef::new(MessageAttachments::Kind)
                            .string_len(10)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(MessageAttachments::Position)
                            .integer()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(MessageAttachments::Table, MessageAttachments::MessageId)
                            .to(Messages::Table, Messages::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(MessageAttachments::Table, MessageAttachments::ChatId)
                            .to(Chats::Table, Chats::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(MessageAttachments::Table, MessageAttachments::FileId)
                            .to(Files::Table, Files::FileId)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        use MessageAttachments::{ChatId, FileId, Id, Kind, MessageId, Position};
        for statement in [
            // a message's attachments in order
            index(
                "message_attachments_message_key",
                vec![MessageId, Position],
                true,
            ),
            // a chat's media, newest first, all kinds or one
            index("message_attachments_chat_idx", vec![ChatId, Id], false),
            index(
                "message_attachments_chat_kind_idx",
                vec![ChatId, Kind, Id],
                false,
            ),
            // may a member read this file through one of their chats
            index("message_attachments_file_idx", vec![FileId, ChatId], false),
        ] {
            manager.create_index(statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(MessageAttachments::Table).to_owned())
            .await
    }
}
