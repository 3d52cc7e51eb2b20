//! Local users: argon2id password hashes, creation and verification.

use argon2::{Argon2, PasswordHasher as _, PasswordVerifier as _};
use portcullis_core::Timestamp;
use portcullis_store::flow::UserRecord;
use portcullis_store::{Store, StoreError};

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// A hash to verify against when the username is unknown, so that the answer takes as long as
/// for a known user and does not reveal which usernames exist.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$cG9ydGN1bGxpcy1kdW1teQ$9Tq2gVqX7x2wXNJt2hHnyQh0Ec8Yt6JH0c8sEJmYgQc";

/// Hashes a password with argon2id (OWASP parameters: m=19 MiB, t=2, p=1) and a fresh salt.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| anyhow::anyhow!("password hashing failed: {e}"))
}

/// Whether `password` matches `hash`, or, with no hash, spends the same time and says no.
pub fn verify_password(password: &str, hash: Option<&str>) -> bool {
    let ok = Argon2::default()
        .verify_password(password.as_bytes(), hash.unwrap_or(DUMMY_HASH))
        .is_ok();
    ok && hash.is_some()
}

/// Checks a new password against the policy.
pub fn check_password(password: &str) -> anyhow::Result<()> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        anyhow::bail!("passwords must have at least {MIN_PASSWORD_CHARS} characters");
    }
    Ok(())
}

/// Whether a username is acceptable: 1–64 printable characters without spaces.
pub fn username_is_valid(username: &str) -> bool {
    !username.is_empty()
        && username.chars().count() <= 64
        && username
            .chars()
            .all(|c| c.is_alphanumeric() || "._-@+".contains(c))
}

/// Creates a user.
pub async fn add(
    store: &dyn Store,
    username: &str,
    password: &str,
    is_admin: bool,
    now: Timestamp,
) -> anyhow::Result<UserRecord> {
    if !username_is_valid(username) {
        anyhow::bail!("usernames are 1-64 letters, digits or ._-@+");
    }
    check_password(password)?;
    let password = password.to_owned();
    let password_hash = tokio::task::spawn_blocking(move || hash_password(&password)).await??;
    let user = UserRecord {
        user_id: format!("user-{}", uuid::Uuid::new_v4()),
        username: username.to_owned(),
        password_hash,
        is_admin,
        created_at: now,
        disabled_at: None,
        failed_logins: 0,
        last_failed_at: None,
    };
    match store.insert_user(&user).await {
        Ok(()) => Ok(user),
        Err(StoreError::Conflict) => anyhow::bail!("user {username:?} already exists"),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_wrong_passwords_do_not() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", Some(&hash)));
        assert!(!verify_password("wrong horse battery", Some(&hash)));
        assert!(!verify_password("correct horse battery", None));
        assert_ne!(
            hash,
            hash_password("correct horse battery").unwrap(),
            "salted"
        );
    }

    #[test]
    fn the_dummy_hash_parses() {
        assert!(argon2::password_hash::phc::PasswordHash::new(DUMMY_HASH).is_ok());
    }
}
