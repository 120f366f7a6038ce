//! Authentication primitives: password hashing (argon2id), session tokens,
//! and the login throttling rule. SAML 2.0 single sign-on joins here later.
//!
//! Pure functions over bytes and numbers: storing sessions and failures is
//! the store's job, cookies and HTTP are the server's.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore;
use rand::rngs::OsRng;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("password is too short: use at least {MIN_PASSWORD_CHARS} characters")]
    PasswordTooShort,
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

pub const MIN_PASSWORD_CHARS: usize = 12;

/// argon2id with OWASP's recommended minimum (19 MiB, 2 passes, 1 lane).
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a new password into a PHC string after checking the policy.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AuthError::PasswordTooShort);
    }
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hashing(e.to_string()))
}

/// Checks a password against a stored PHC string. A malformed stored hash
/// never matches.
pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash to verify against when the login does not exist, so that an
/// unknown login costs the same time as a wrong password.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("murakumo-no-such-user-0000").unwrap_or_default())
}

/// A random password for generated accounts (demo, bootstrap): 16
/// characters without look-alikes (0/O, 1/l/I), easy to read aloud.
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// A new session token (sent to the browser) and its hash (stored). The
/// database never holds a usable token.
pub fn new_session_token() -> (String, Vec<u8>) {
    let mut raw = [0u8; 32];
    OsRng.fill_bytes(&mut raw);
    let token = hex::encode(raw);
    let hash = token_hash(&token);
    (token, hash)
}

pub fn token_hash(token: &str) -> Vec<u8> {
    blake3::derive_key("murakumo 2026 session token v1", token.as_bytes()).to_vec()
}

/// Login throttling: after `max_failures` failed attempts within
/// `lockout_us`, the account is locked until `lockout_us` after the last
/// failure. Returns the time the lock ends, if locked at `now`.
pub fn locked_until(failures: &[i64], max_failures: u32, lockout_us: i64, now: i64) -> Option<i64> {
    let recent: Vec<i64> = failures
        .iter()
        .copied()
        .filter(|&t| t > now - lockout_us && t <= now)
        .collect();
    if recent.len() >= max_failures as usize {
        recent.iter().max().map(|last| last + lockout_us)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash_password("correct horse battery").expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterY", &h));
        assert!(!verify_password("x", "not a phc string"));
        assert_eq!(hash_password("short"), Err(AuthError::PasswordTooShort));
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let (a, ha) = new_session_token();
        let (b, _) = new_session_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(token_hash(&a), ha);
        assert_ne!(ha, a.as_bytes());
    }

    #[test]
    fn generated_passwords_pass_the_policy() {
        let p = generate_password();
        assert_eq!(p.len(), 16);
        assert!(hash_password(&p).is_ok());
    }

    #[test]
    fn throttling() {
        let min = 60_000_000;
        let lock = 15 * min;
        let now = 100 * min;
        assert_eq!(
            locked_until(&[now - 3 * min, now - 2 * min], 3, lock, now),
            None
        );
        let three = [now - 3 * min, now - 2 * min, now - min];
        assert_eq!(locked_until(&three, 3, lock, now), Some(now - min + lock));
        // Old failures no longer count.
        assert_eq!(
            locked_until(&[now - 40 * min, now - 30 * min, now - min], 3, lock, now),
            None
        );
        // The lock ends on time.
        assert_eq!(locked_until(&three, 3, lock, now + lock), None);
    }

    #[test]
    fn throttling_counts_exactly_the_window() {
        let lock = 1_000;
        let now = 10_000;
        // A failure exactly `lock` ago is outside the window; one at `now`
        // is inside; one recorded after `now` (another node's clock) is not
        // counted yet.
        assert_eq!(
            locked_until(&[now - lock, now - 1, now], 2, lock, now),
            Some(now + lock)
        );
        assert_eq!(locked_until(&[now - lock, now], 2, lock, now), None);
        assert_eq!(locked_until(&[now - 1, now + 1], 2, lock, now), None);
        // One failure short of the limit is not locked; at the limit it is.
        assert_eq!(locked_until(&[now - 2, now - 1], 3, lock, now), None);
        assert_eq!(
            locked_until(&[now - 2, now - 1], 2, lock, now),
            Some(now - 1 + lock)
        );
        // The lock runs from the last failure, whatever the order given.
        assert_eq!(
            locked_until(&[now - 1, now - 5], 2, lock, now),
            Some(now - 1 + lock)
        );
    }

    /// The stored hash names OWASP's minimum parameters: a weaker setting
    /// would show here, not only in a benchmark.
    #[test]
    fn hashes_use_argon2id_at_owasp_minimum() {
        let h = hash_password("correct horse battery").expect("hash");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        // The dummy is a real hash with the same cost, so an unknown login
        // costs what a wrong password does.
        let d = dummy_hash();
        assert!(d.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{d}");
        assert!(verify_password("murakumo-no-such-user-0000", d));
        assert!(!verify_password("correct horse battery", d));
        assert_eq!(
            hash_password("elevenchars"),
            Err(AuthError::PasswordTooShort)
        );
        assert!(hash_password("twelve chars").is_ok());
        // Characters, not bytes: twelve kana pass.
        assert!(hash_password("あいうえおかきくけこさし").is_ok());
        assert_eq!(
            hash_password("あいうえおかきくけこさ"),
            Err(AuthError::PasswordTooShort)
        );
    }

    #[test]
    fn generated_passwords_use_the_whole_alphabet_without_look_alikes() {
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let p = generate_password();
            assert_eq!(p.chars().count(), 16);
            for c in p.chars() {
                assert!(c.is_ascii_alphanumeric() && !"0O1lIo".contains(c), "{p}");
                seen.insert(c);
            }
        }
        // 3,200 draws from 56 characters: every one shows up.
        assert_eq!(seen.len(), 56, "{seen:?}");
    }

    #[test]
    fn token_hashes_are_keyed_digests_of_the_token() {
        let (a, ha) = new_session_token();
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(ha.len(), 32);
        assert_eq!(token_hash(&a), token_hash(&a));
        assert_ne!(token_hash("a"), token_hash("b"));
        assert_ne!(token_hash("a").as_slice(), blake3::hash(b"a").as_bytes());
    }
}
