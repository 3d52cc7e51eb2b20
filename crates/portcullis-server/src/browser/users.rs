//! Local users: argon2id password hashes, creation and verification.

use argon2::{Argon2, PasswordHasher as _};
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
    let ok = verify_pooled(password, hash.unwrap_or(DUMMY_HASH));
    ok && hash.is_some()
}

/// Argon2 working memories (19 MiB each with the default parameters) kept for the next
/// verification, at most this many: as many as `limits.password_hashes` allows at once by
/// default. Allocating one per verification let glibc keep each in the arena of the blocking
/// thread that ran it (once freed, a chunk that size raises glibc's mmap threshold), so the
/// resident memory grew by 19 MiB per thread that ever verified a password.
const POOLED_MEMORIES: usize = 4;

static MEMORIES: std::sync::Mutex<Vec<Vec<argon2::Block>>> = std::sync::Mutex::new(Vec::new());

/// Verifies `password` against the PHC string `phc` in a working memory taken from
/// [`MEMORIES`] (or a new one), given back afterwards. The comparison is constant-time.
fn verify_pooled(password: &str, phc: &str) -> bool {
    use argon2::password_hash::phc::PasswordHash;
    use argon2::{Algorithm, Params, Version};
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else {
        return false;
    };
    let Ok(version) = parsed
        .version
        .map_or(Ok(Version::default()), Version::try_from)
    else {
        return false;
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let blocks = params.block_count();
    let argon2 = Argon2::new(algorithm, version, params);
    let mut memory = {
        let mut pool = MEMORIES
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match pool.iter().position(|m| m.len() == blocks) {
            Some(i) => pool.swap_remove(i),
            None => vec![argon2::Block::default(); blocks],
        }
    };
    let expected = expected.as_bytes();
    let mut out = vec![0_u8; expected.len()];
    let hashed = argon2
        .hash_password_into_with_memory(
            password.as_bytes(),
            salt.as_ref(),
            &mut out,
            &mut memory[..],
        )
        .is_ok();
    {
        let mut pool = MEMORIES
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if pool.len() < POOLED_MEMORIES {
            pool.push(memory);
        }
    }
    hashed && aws_lc_rs::constant_time::verify_slices_are_equal(&out, expected).is_ok()
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
    fn pooled_verification_agrees_with_the_library_and_keeps_few_memories() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        use argon2::{Algorithm, Params, Version};
        // Other parameters than the default (a hash made elsewhere, or before a change).
        let small = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(1024, 1, 1, None).unwrap(),
        );
        let other = small
            .hash_password(b"another password")
            .unwrap()
            .to_string();
        let default = hash_password("correct horse battery").unwrap();
        for (phc, password) in [
            (default.as_str(), "correct horse battery"),
            (default.as_str(), "correct horse batterY"),
            (other.as_str(), "another password"),
            (other.as_str(), ""),
        ] {
            let library = Argon2::default()
                .verify_password(password.as_bytes(), phc)
                .is_ok();
            for _ in 0..3 {
                assert_eq!(verify_pooled(password, phc), library, "{phc} {password}");
            }
        }
        assert!(!verify_pooled("x", "not a PHC string"));
        assert!(!verify_pooled(
            "x",
            "$argon2id$v=19$m=19456,t=2,p=1$cG9ydGN1bGxpcy1kdW1teQ"
        ));
        let pooled = MEMORIES.lock().unwrap().len();
        assert!((1..=POOLED_MEMORIES).contains(&pooled), "{pooled}");
    }

    #[test]
    fn the_dummy_hash_parses() {
        assert!(argon2::password_hash::phc::PasswordHash::new(DUMMY_HASH).is_ok());
    }
}
