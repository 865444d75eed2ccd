//! Indexes that let message search walk a word's messages newest first and stop early:
//! within one chat by (chat, token, message), and a candidate's other words by
//! (message, token), which also serves deleting a message's words.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum MessageSearchToken {
    Table,
    Token,
    MessageId,
    ChatId,
}

const CHAT_TOKEN_IDX: &str = "message_search_token_chat_token_idx";
const MESSAGE_TOKEN_IDX: &str = "message_search_token_message_token_idx";
const MESSAGE_IDX: &str = "message_search_token_message_idx";

fn message_only() -> IndexCreateStatement {
    Index::create()
        .name(MESSAGE_IDX)
        .table(MessageSearchToken::Table)
        .col(MessageSearchToken::MessageId)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(CHAT_TOKEN_IDX)
                    .table(MessageSearchToken::Table)
                    .col(MessageSearchToken::ChatId)
                    .col(MessageSearchToken::Token)
                    .col(MessageSearchToken::MessageId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(MESSAGE_TOKEN_IDX)
                    .table(MessageSearchToken::Table)
                    .col(MessageSearchToken::MessageId)
                    .col(MessageSearchToken::Token)
                    .to_owned(),
            )
            .await?;
        // its column leads the new (message, token) index
        manager
            .drop_index(
                Index::drop()
                    .name(MESSAGE_IDX)
                    .table(MessageSearchToken::Table)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_index(message_only()).await?;
        for name in [MESSAGE_TOKEN_IDX, CHAT_TOKEN_IDX] {
            manager
                .drop_index(
                    Index::drop()
                        .name(name)
                        .table(MessageSearchToken::Table)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
