//! HTTP-level tests: each test starts vitrine on a random port with its own database
//! (SQLite by default; PostgreSQL with `TEST_DATABASE_URL`, Redis with `TEST_REDIS_URL`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod accounts;
mod avatars;
mod catalog_collections;
mod catalog_drafts;
mod catalog_images;
mod catalog_import;
mod catalog_mechanisms;
mod catalog_references;
mod catalog_search;
mod catalog_watches;
mod cli;
mod files;
mod helpers;
mod oauth;
mod openapi;
mod ops;
mod passwords;
mod sessions;
mod users;
