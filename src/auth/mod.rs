//! Authentication shared by every domain: password hashing, access and opaque tokens,
//! session liveness, login rate limits and the `CurrentUser` extractor.

mod extractor;
pub mod password;
pub mod rate_limit;
pub mod redis_link;
pub mod session_cache;
pub mod sessions;
pub mod tokens;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use extractor::{AdminUser, ClientIp, CurrentUser, OptionalUser, UserAgent};

/// What a member may do; moderators and admins have everything below them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Moderator,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Moderator => "moderator",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "user" => Ok(Role::User),
            "moderator" => Ok(Role::Moderator),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "unknown role `{other}`; expected user, moderator or admin"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_by_power() {
        assert!(Role::Admin > Role::Moderator && Role::Moderator > Role::User);
        assert_eq!("moderator".parse::<Role>(), Ok(Role::Moderator));
        assert!("root".parse::<Role>().is_err());
    }
}
