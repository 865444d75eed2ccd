//! SeaORM entities of the catalog tables. The six reference tables (`brand`, `factory`,
//! `case_material`, `gender`, `mechanism_type`, `function`) share one shape and are
//! queried through `catalog::references` instead.

pub mod alias;
pub mod collection;
pub mod draft_alias;
pub mod draft_mechanism;
pub mod draft_mechanism_function;
pub mod draft_watch;
pub mod draft_watch_image;
pub mod mechanism;
pub mod mechanism_function;
pub mod watch;
pub mod watch_image;
pub mod watch_search_token;
