//! SeaORM entities of the accounts tables.

pub mod avatars;
pub mod oauth_identities;
pub mod presence;
pub mod sessions;
pub mod tokens;
pub mod user_credentials;
pub mod user_details;
pub mod users;
