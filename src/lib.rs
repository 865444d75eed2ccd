//! vitrine: accounts, files, a moderated watch catalog and a messenger for collectors.

pub mod accounts;
pub mod allocator;
pub mod auth;
pub mod backup;
pub mod bus;
pub mod catalog;
pub mod chat;
pub mod config;
pub mod db;
pub mod error;
pub mod extract;
pub mod file_grants;
pub mod files;
pub mod janitor;
pub mod mail;
pub mod online;
pub mod openapi;
pub mod ops;
pub mod pagination;
pub mod startup;
pub mod state;
pub mod storage;
pub mod telemetry;
pub mod unread_body;
pub mod web;
pub mod words;
