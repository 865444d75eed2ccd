//! Schema migrations shared by SQLite and PostgreSQL.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_accounts;
mod m20261123_000002_avatars;
mod m20261123_000003_catalog;
mod m20261201_000004_chat;
mod m20261202_000005_chat_attachments;
mod m20261202_000006_presence;
mod m20261202_000007_message_search_order;
mod m20261202_000008_draft_watch_image;
mod m20261202_000009_watch_list_title;
mod m20261203_000010_search_joined_words;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_accounts::Migration),
            Box::new(m20261123_000002_avatars::Migration),
            Box::new(m20261123_000003_catalog::Migration),
            Box::new(m20261201_000004_chat::Migration),
            Box::new(m20261202_000005_chat_attachments::Migration),
            Box::new(m20261202_000006_presence::Migration),
            Box::new(m20261202_000007_message_search_order::Migration),
            Box::new(m20261202_000008_draft_watch_image::Migration),
            Box::new(m20261202_000009_watch_list_title::Migration),
            Box::new(m20261203_000010_search_joined_words::Migration),
        ]
    }
}
