//! HTTP-level tests: each test starts vitrine on a random port with its own database
//! (SQLite by default; PostgreSQL with `TEST_DATABASE_URL`, Redis with `TEST_REDIS_URL`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod accounts;
mod avatars;
mod backup;
mod cache_instances;
mod catalog_cache;
mod catalog_collections;
mod catalog_drafts;
mod catalog_images;
mod catalog_import;
mod catalog_mechanisms;
mod catalog_references;
mod catalog_search;
mod catalog_watches;
mod chat;
mod chat_attachments;
mod chat_fanout;
mod chat_groups;
mod chat_instances;
mod chat_live;
mod chat_model;
mod chat_search;
mod chat_writes;
mod cli;
mod drafts_images;
mod file_ranges;
mod files;
mod helpers;
mod janitor;
mod janitor_crash;
mod keep_alive;
mod oauth;
mod openapi;
mod ops;
mod outage_servers;
mod outages;
mod passwords;
mod presence;
mod reads;
mod refresh_reuse;
mod sessions;
mod users;
mod web;
mod web_cookie;
