//! Which account an OAuth sign-in belongs to: the one already linked to the provider's
//! identity, else an account with the same verified email, else a new one.

use axum::http::StatusCode;
use rand::Rng;
use sea_orm::DatabaseTransaction;

use super::Provider;
use super::exchange::oauth_failed;
use crate::accounts::entity::users;
use crate::accounts::model::{USERNAME_MAX, USERNAME_MIN, normalize_email};
use crate::accounts::repo::{self, NewUser};
use crate::auth::Role;
use crate::error::{AppError, AppResult};

/// What the oauth_identities table holds for a subject.
const SUBJECT_MAX: usize = 255;
/// Numbered usernames tried before a random number is taken.
const NUMBERED_TRIES: u32 = 20;

/// Who the provider says signed in.
#[derive(Debug)]
pub struct ProviderIdentity {
    pub provider: Provider,
    /// The provider's stable id of the member.
    pub subject: String,
    pub email: Option<String>,
    /// Whether the provider vouches that the member owns the email.
    pub email_verified: bool,
    /// A login name at the provider, preferred for a new username.
    pub login: Option<String>,
}

/// Finds or creates the account, inside the caller's transaction.
pub async fn resolve(
    tx: &DatabaseTransaction,
    identity: &ProviderIdentity,
) -> AppResult<users::Model> {
    let provider = identity.provider.as_str();
    if identity.subject.is_empty() || identity.subject.len() > SUBJECT_MAX {
        return Err(oauth_failed("the provider sent an unusable member id"));
    }
    if let Some(linked) = repo::find_identity(tx, provider, &identity.subject).await? {
        let user = repo::find_user(tx, linked.user_id).await?.ok_or_else(|| {
            AppError::internal(anyhow::anyhow!("identity {} has no user", linked.id))
        })?;
        return active(user);
    }

    let email = usable_email(identity)?;
    if let Some(user) = repo::find_user_by_email(tx, &email).await? {
        // an unverified address proves nothing about who owns the account
        if !identity.email_verified {
            return Err(AppError::conflict(
                "email_taken",
                "an account with this email already exists; sign in with its password",
            ));
        }
        let user = active(user)?;
        repo::insert_identity(tx, provider, &identity.subject, user.user_id, Some(email)).await?;
        tracing::info!(
            user_id = user.user_id,
            provider,
            "linked an OAuth identity by verified email"
        );
        return Ok(user);
    }

    let base = username_base(identity.login.as_deref(), &email);
    let username = unique_username(tx, &base).await?;
    let user = repo::insert_user(
        tx,
        NewUser {
            username,
            email: email.clone(),
            role: Role::User,
            password_hash: None,
        },
    )
    .await?;
    repo::insert_identity(tx, provider, &identity.subject, user.user_id, Some(email)).await?;
    tracing::info!(
        user_id = user.user_id,
        provider,
        "created an account from an OAuth sign-in"
    );
    Ok(user)
}

fn active(user: users::Model) -> AppResult<users::Model> {
    if user.is_active {
        Ok(user)
    } else {
        Err(AppError::Forbidden {
            code: "account_disabled",
            detail: "this account has been deactivated".to_owned(),
        })
    }
}

fn usable_email(identity: &ProviderIdentity) -> AppResult<String> {
    let email_required = |detail: &str| AppError::Status {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        code: "email_required",
        detail: detail.to_owned(),
    };
    let email = identity
        .email
        .as_deref()
        .filter(|email| !email.trim().is_empty())
        .ok_or_else(|| {
            email_required("the provider shared no email address; allow access to it and retry")
        })?;
    normalize_email("email", email)
        .map_err(|_| email_required("the email address from the provider cannot be used here"))
}

/// A username after the provider's login or the email's local part, reduced to the
/// characters usernames allow.
fn username_base(login: Option<&str>, email: &str) -> String {
    let source = login
        .filter(|login| !login.trim().is_empty())
        .unwrap_or_else(|| email.split('@').next().unwrap_or_default());
    let kept: String = source
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        .collect();
    let trimmed = kept.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
    let base: String = trimmed.chars().take(USERNAME_MAX).collect();
    match base.len() {
        0 => "user".to_owned(),
        length if length < USERNAME_MIN => format!("{base}_user"),
        _ => base,
    }
}

/// The base itself, or the base with the first free number, or a random one.
async fn unique_username(tx: &DatabaseTransaction, base: &str) -> AppResult<String> {
    if !repo::username_taken(tx, base, None).await? {
        return Ok(base.to_owned());
    }
    for number in 2..NUMBERED_TRIES + 2 {
        let candidate = with_suffix(base, number);
        if !repo::username_taken(tx, &candidate, None).await? {
            return Ok(candidate);
        }
    }
    // a crowded name; a clash now is rare and ends in a conflict the member can retry
    Ok(with_suffix(
        base,
        rand::thread_rng().gen_range(1_000..1_000_000),
    ))
}

fn with_suffix(base: &str, number: u32) -> String {
    let suffix = number.to_string();
    let mut name: String = base.chars().take(USERNAME_MAX - suffix.len()).collect();
    name.push_str(&suffix);
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::model::check_username;

    #[test]
    fn usernames_follow_the_username_rules() {
        let cases = [
            (None, "John.Doe@example.com", "john.doe"),
            (Some("ivan-petrov"), "ivan@yandex.ru", "ivan-petrov"),
            (Some("  "), "anna+watches@example.com", "annawatches"),
            (None, "_.-x@example.com", "x_user"),
            (None, "ай@example.com", "user"),
            (None, "ab@example.com", "ab_user"),
        ];
        for (login, email, expected) in cases {
            let base = username_base(login, email);
            assert_eq!(base, expected, "{login:?} {email}");
            assert!(check_username("username", &base).is_ok(), "{base}");
        }
        let long = username_base(None, &format!("{}@example.com", "a".repeat(80)));
        assert_eq!(long.len(), USERNAME_MAX);
        let numbered = with_suffix(&long, 12);
        assert_eq!(numbered.len(), USERNAME_MAX);
        assert!(numbered.ends_with("12"));
        assert!(check_username("username", &numbered).is_ok());
    }
}
