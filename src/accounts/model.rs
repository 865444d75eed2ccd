//! Request and response bodies of the accounts API, and the rules their fields follow.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::entity::{sessions, user_details, users};
use crate::auth::Role;
use crate::error::FieldError;

pub const USERNAME_MIN: usize = 3;
pub const USERNAME_MAX: usize = 50;
pub const EMAIL_MAX: usize = 100;
pub const DESCRIPTION_MAX: usize = 2000;
pub const URL_MAX: usize = 255;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// 3–50 characters: Latin letters, digits, `_`, `.`, `-`.
    pub username: String,
    pub email: String,
    /// 8–128 characters.
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Email or username.
    pub login: String,
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// Required, except in the cookie mode (`X-Refresh-Cookie: 1`), which reads the cookie.
    #[serde(default)]
    pub refresh_token: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgotPasswordRequest {
    pub email: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordRequest {
    pub token: String,
    pub new_password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
}

/// Fields left out stay as they are; `null` clears an optional field.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMeRequest {
    pub username: Option<String>,
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(value_type = Option<String>)]
    pub phone_number: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(value_type = Option<String>)]
    pub avito_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(value_type = Option<String>)]
    pub meshok_url: Option<Option<String>>,
    /// Show `last_seen` and send presence events to the people I share a chat with.
    pub show_presence: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminUpdateUserRequest {
    pub role: Option<Role>,
    pub is_active: Option<bool>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AdminUserQuery {
    /// Only users with this role.
    pub role: Option<Role>,
    /// Part of the username or email, any case.
    pub q: Option<String>,
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

/// A member as they (and admins) see themselves.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    pub user_id: i64,
    pub username: String,
    pub email: String,
    pub role: String,
    pub is_active: bool,
    pub rating: i32,
    pub phone_number: Option<String>,
    pub description: Option<String>,
    pub avito_url: Option<String>,
    pub meshok_url: Option<String>,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::timestamps::optional_rfc3339")]
    pub last_login_at: Option<DateTime<Utc>>,
    /// The active avatar's picture.
    pub avatar_url: Option<String>,
    /// Whether the people I share a chat with see when I am online.
    pub show_presence: bool,
}

impl UserResponse {
    pub fn new(
        user: users::Model,
        details: Option<user_details::Model>,
        avatar_url: Option<String>,
        show_presence: bool,
    ) -> Self {
        let (description, last_login_at) = details
            .map(|details| (details.description, details.last_login_at))
            .unwrap_or_default();
        Self {
            user_id: user.user_id,
            username: user.username,
            email: user.email,
            role: user.role,
            is_active: user.is_active,
            rating: user.rating,
            phone_number: user.phone_number,
            description,
            avito_url: user.avito_url,
            meshok_url: user.meshok_url,
            created_at: user.created_at,
            last_login_at,
            avatar_url,
            show_presence,
        }
    }
}

/// A member as anyone sees them: no email, no phone number.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicUserResponse {
    pub user_id: i64,
    pub username: String,
    pub role: String,
    pub rating: i32,
    pub description: Option<String>,
    pub avito_url: Option<String>,
    pub meshok_url: Option<String>,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub created_at: DateTime<Utc>,
    pub avatar_url: Option<String>,
    /// When they were last connected (now, while they are); `null` if they hide it.
    #[serde(serialize_with = "crate::timestamps::optional_rfc3339")]
    pub last_seen: Option<DateTime<Utc>>,
    /// Connected now; `false` if they hide it.
    pub online: bool,
}

impl From<UserResponse> for PublicUserResponse {
    fn from(user: UserResponse) -> Self {
        Self {
            user_id: user.user_id,
            username: user.username,
            role: user.role,
            rating: user.rating,
            description: user.description,
            avito_url: user.avito_url,
            meshok_url: user.meshok_url,
            created_at: user.created_at,
            avatar_url: user.avatar_url,
            last_seen: None,
            online: false,
        }
    }
}

/// A fresh access token and the refresh token that replaces it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Absent in the cookie mode (`X-Refresh-Cookie: 1`): the token is in the cookie.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

/// The answer to a registration or sign-in.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthResponse {
    pub user: UserResponse,
    #[serde(flatten)]
    pub tokens: TokenResponse,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionResponse {
    pub id: i64,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub last_seen_at: DateTime<Utc>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    /// The session of the token that asks.
    pub current: bool,
}

impl SessionResponse {
    pub fn new(session: sessions::Model, current_id: i64) -> Self {
        Self {
            current: session.id == current_id,
            id: session.id,
            created_at: session.created_at,
            last_seen_at: session.last_seen_at,
            user_agent: session.user_agent,
            ip: session.ip,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    pub message: &'static str,
}

/// Lower-cases and checks an email address.
pub fn normalize_email(field: &str, email: &str) -> Result<String, FieldError> {
    let email = email.trim().to_lowercase();
    if email.chars().count() > EMAIL_MAX {
        return Err(FieldError::new(
            field,
            format!("must be at most {EMAIL_MAX} characters long"),
        ));
    }
    if !email_address::EmailAddress::is_valid(&email) || !email.contains('.') {
        return Err(FieldError::new(field, "is not a valid email address"));
    }
    Ok(email)
}

/// ASCII only, so that look-alike letters cannot impersonate another member.
pub fn check_username(field: &str, username: &str) -> Result<(), FieldError> {
    let length = username.chars().count();
    if !(USERNAME_MIN..=USERNAME_MAX).contains(&length) {
        return Err(FieldError::new(
            field,
            format!("must be {USERNAME_MIN}–{USERNAME_MAX} characters long"),
        ));
    }
    if !username
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        return Err(FieldError::new(
            field,
            "may contain only Latin letters, digits, `_`, `.` and `-`",
        ));
    }
    if !username.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(FieldError::new(field, "must start with a letter or digit"));
    }
    Ok(())
}

/// E.164: `+`, then 3–15 digits, the first not zero.
pub fn check_phone_number(field: &str, phone: &str) -> Result<(), FieldError> {
    let digits = phone.strip_prefix('+').unwrap_or("");
    let valid = (3..=15).contains(&digits.len())
        && digits.chars().all(|c| c.is_ascii_digit())
        && !digits.starts_with('0');
    if valid {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            "must be in E.164 format, e.g. +79161234567",
        ))
    }
}

/// A profile link must point to the named marketplace over HTTP(S).
pub fn check_marketplace_url(field: &str, value: &str, domain: &str) -> Result<(), FieldError> {
    let problem = || FieldError::new(field, format!("must be an https link to {domain}"));
    if value.len() > URL_MAX {
        return Err(FieldError::new(
            field,
            format!("must be at most {URL_MAX} characters long"),
        ));
    }
    let url = url::Url::parse(value).map_err(|_| problem())?;
    let host = url.host_str().unwrap_or_default();
    let on_domain = host == domain || host.ends_with(&format!(".{domain}"));
    if matches!(url.scheme(), "https" | "http")
        && on_domain
        && url.password().is_none()
        && url.username().is_empty()
    {
        Ok(())
    } else {
        Err(problem())
    }
}

pub fn check_description(field: &str, value: &str) -> Result<(), FieldError> {
    if value.chars().count() > DESCRIPTION_MAX {
        Err(FieldError::new(
            field,
            format!("must be at most {DESCRIPTION_MAX} characters long"),
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_lowercased_and_checked() {
        assert_eq!(
            normalize_email("email", " Ann@Example.COM ").unwrap(),
            "ann@example.com"
        );
        assert!(normalize_email("email", "not-an-email").is_err());
        assert!(normalize_email("email", "ann@localhost").is_err());
        assert!(normalize_email("email", &format!("{}@example.com", "a".repeat(95))).is_err());
    }

    #[test]
    fn usernames() {
        assert!(check_username("username", "watch_fan-1.0").is_ok());
        assert!(check_username("username", "ab").is_err());
        assert!(check_username("username", &"a".repeat(51)).is_err());
        assert!(check_username("username", "аnna").is_err()); // Cyrillic а
        assert!(check_username("username", "_anna").is_err());
        assert!(check_username("username", "an na").is_err());
        assert!(check_username("username", "ann@x").is_err());
    }

    #[test]
    fn phone_numbers() {
        assert!(check_phone_number("phone_number", "+79161234567").is_ok());
        assert!(check_phone_number("phone_number", "+123456789012345").is_ok());
        assert!(check_phone_number("phone_number", "+1234567890123456").is_err());
        assert!(check_phone_number("phone_number", "89161234567").is_err());
        assert!(check_phone_number("phone_number", "+0161234567").is_err());
        assert!(check_phone_number("phone_number", "+7916-123").is_err());
    }

    #[test]
    fn marketplace_links() {
        assert!(
            check_marketplace_url("avito_url", "https://www.avito.ru/user/abc", "avito.ru").is_ok()
        );
        assert!(
            check_marketplace_url("avito_url", "https://avito.ru.evil.com/x", "avito.ru").is_err()
        );
        assert!(check_marketplace_url("avito_url", "javascript:alert(1)", "avito.ru").is_err());
        assert!(
            check_marketplace_url("avito_url", "https://user:pw@avito.ru/", "avito.ru").is_err()
        );
        assert!(
            check_marketplace_url("meshok_url", "https://meshok.net/user/5", "meshok.net").is_ok()
        );
    }
}
