//! Authentication primitives: password hashing (argon2id) and the password
//! policy, session tokens, and the login throttling rule (progressive delay).
//!
//! Pure functions over bytes and numbers: storing sessions and failures is
//! the store's job, cookies and HTTP are the server's. SAML single sign-on
//! is `murakumo-saml`.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore;
use rand::rngs::OsRng;

/// Why a password is refused (messages for staff: Japanese, naming the
/// field) or could not be hashed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error(
        "パスワードが短すぎます: {MIN_PASSWORD_CHARS}文字以上にしてください(いまは{0}文字)。覚えやすい長い文が安全です (password: at least {MIN_PASSWORD_CHARS} characters)"
    )]
    PasswordTooShort(usize),
    #[error(
        "パスワードがよく使われるものの一覧に載っています: 推測されやすいので別のパスワードにしてください (password: on the list of common passwords)"
    )]
    PasswordCommon,
    #[error(
        "パスワードにログインIDを含めることはできません: 別のパスワードにしてください (password: contains the login id)"
    )]
    PasswordContainsLogin,
    #[error(
        "パスワードの文字の種類が少なすぎます: 同じ文字や短い繰り返しではなく、{MIN_DISTINCT_CHARS}種類以上の文字を使ってください (password: too few distinct characters)"
    )]
    PasswordTooSimple,
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

pub const MIN_PASSWORD_CHARS: usize = 12;
/// "aaaaaaaaaaaa" and "abababababab" are long but guessed at once.
pub const MIN_DISTINCT_CHARS: usize = 5;

/// Passwords from published breach corpora and common-password lists
/// (`data/common-passwords.txt`, shipped in the repository).
const COMMON_PASSWORDS: &str = include_str!("../data/common-passwords.txt");

fn is_common(password: &str) -> bool {
    let p = password.trim().to_lowercase();
    COMMON_PASSWORDS
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .any(|l| l == p)
}

/// The password policy, applied wherever a password is set (API, CLI, demo;
/// the CLI and the demo generate strong ones): at least
/// [`MIN_PASSWORD_CHARS`] characters and [`MIN_DISTINCT_CHARS`] distinct
/// ones, not on the shipped list of common passwords, and (when `login` is
/// given) not containing the login id.
pub fn check_password(password: &str, login: Option<&str>) -> Result<(), AuthError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(AuthError::PasswordTooShort(chars));
    }
    let distinct: std::collections::BTreeSet<char> = password.chars().collect();
    if distinct.len() < MIN_DISTINCT_CHARS {
        return Err(AuthError::PasswordTooSimple);
    }
    if is_common(password) {
        return Err(AuthError::PasswordCommon);
    }
    if let Some(login) = login.map(|l| l.trim().to_lowercase())
        && !login.is_empty()
        && password.to_lowercase().contains(&login)
    {
        return Err(AuthError::PasswordContainsLogin);
    }
    Ok(())
}

/// argon2id with OWASP's recommended minimum (19 MiB, 2 passes, 1 lane).
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a new password of `login` into a PHC string after checking the
/// policy ([`check_password`]).
pub fn hash_password(password: &str, login: Option<&str>) -> Result<String, AuthError> {
    check_password(password, login)?;
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
    DUMMY.get_or_init(|| hash_password("murakumo-no-such-user-0000", None).unwrap_or_default())
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

/// A generated password that passes the policy for `login` (a random one
/// could, very rarely, contain a short login id).
pub fn generate_password_for(login: &str) -> String {
    loop {
        let p = generate_password();
        if check_password(&p, Some(login)).is_ok() {
            return p;
        }
    }
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

/// Login throttling by progressive delay (the rule, documented in
/// `docs/design/staff-identity.md`): a bucket (an account at one address, an account
/// from everywhere, an address) allows `free_failures` consecutive failed
/// attempts; after that each further attempt must wait, starting at
/// `first_delay_us` and doubling with every failure up to `max_delay_us`.
/// Failures are forgotten after a successful login or after twice the
/// longest delay without a failure. Nobody is locked out for good: a
/// stranger can slow an account down for at most `max_delay_us` at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottleRule {
    pub free_failures: u32,
    pub first_delay_us: i64,
    pub max_delay_us: i64,
}

impl ThrottleRule {
    /// The failures that still count at `now`, of `failures` with the last
    /// at `last_failure`.
    pub fn current(&self, failures: u32, last_failure: i64, now: i64) -> u32 {
        if now.saturating_sub(last_failure) > self.max_delay_us.saturating_mul(2) {
            0
        } else {
            failures
        }
    }

    /// When the next attempt may be made after `failures` consecutive
    /// failures, the last at `last_failure` (`None`: at once).
    pub fn next_attempt_at(&self, failures: u32, last_failure: i64) -> Option<i64> {
        let over = failures.checked_sub(self.free_failures)?;
        let delay = self
            .first_delay_us
            .checked_mul(1i64.checked_shl(over.min(40)).unwrap_or(i64::MAX))
            .unwrap_or(i64::MAX)
            .min(self.max_delay_us);
        Some(last_failure.saturating_add(delay))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash_password("correct horse battery", None).expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterY", &h));
        assert!(!verify_password("x", "not a phc string"));
        assert_eq!(
            hash_password("short", None),
            Err(AuthError::PasswordTooShort(5))
        );
    }

    #[test]
    fn weak_passwords_are_refused() {
        assert_eq!(
            check_password("Password1234", None),
            Err(AuthError::PasswordCommon)
        );
        assert_eq!(
            check_password("1q2w3e4r5t6y", None),
            Err(AuthError::PasswordCommon)
        );
        assert_eq!(
            check_password("aaaaaaaaaaaaaaaa", None),
            Err(AuthError::PasswordTooSimple)
        );
        assert_eq!(
            check_password("sato.hanako-2026!", Some("sato.hanako")),
            Err(AuthError::PasswordContainsLogin)
        );
        assert_eq!(
            check_password("Sato.Hanako.x", Some("sato.hanako")),
            Err(AuthError::PasswordContainsLogin)
        );
        assert!(check_password("kawa no nagare wa taezu", Some("sato")).is_ok());
        // The messages name the field in Japanese.
        for e in [
            AuthError::PasswordTooShort(3),
            AuthError::PasswordCommon,
            AuthError::PasswordContainsLogin,
            AuthError::PasswordTooSimple,
        ] {
            assert!(e.to_string().starts_with("パスワード"), "{e}");
        }
        // The list is read: every entry long enough to pass the length rule
        // is refused as common (or as too simple).
        for l in COMMON_PASSWORDS.lines().filter(|l| !l.starts_with('#')) {
            assert!(check_password(l, None).is_err(), "{l}");
        }
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
        assert!(hash_password(&p, Some("clerk")).is_ok());
    }

    /// The stored hash says how it was made: argon2id, version 19, and
    /// OWASP's minimum cost (m = 19 MiB, t = 2, p = 1), read back from the
    /// PHC string rather than trusted from the code.
    fn argon2_cost(phc: &str) -> (String, Option<u32>, u32, u32, u32) {
        let parsed = PasswordHash::new(phc).expect("a PHC string");
        let params = Params::try_from(&parsed).expect("argon2 parameters");
        (
            parsed.algorithm.to_string(),
            parsed.version,
            params.m_cost(),
            params.t_cost(),
            params.p_cost(),
        )
    }

    #[test]
    fn hashes_use_argon2id_at_owasp_minimum() {
        let owasp = ("argon2id".to_string(), Some(19), 19 * 1024, 2, 1);
        let h = hash_password("kawa no nagare wa taezu", None).expect("hash");
        assert_eq!(argon2_cost(&h), owasp);
        // The length rule counts characters, not bytes: 12 kana pass, 11
        // do not (and 11 ASCII characters do not either).
        let twelve = "かわのながれはたえずして";
        assert_eq!(twelve.chars().count(), 12);
        assert!(hash_password(twelve, None).is_ok());
        let eleven: String = twelve.chars().take(11).collect();
        assert_eq!(
            hash_password(&eleven, None),
            Err(AuthError::PasswordTooShort(11))
        );
        assert_eq!(
            check_password("abcdefghijk", None),
            Err(AuthError::PasswordTooShort(11))
        );
        assert_eq!(check_password("abcdefghijkm", None), Ok(()));
    }

    #[test]
    fn unknown_logins_cost_as_much_as_a_wrong_password() {
        // The dummy is a real argon2id hash at the same cost as a stored
        // password, so verifying against it takes as long; nothing matches it
        // but its own password.
        let owasp = ("argon2id".to_string(), Some(19), 19 * 1024, 2, 1);
        assert_eq!(argon2_cost(dummy_hash()), owasp);
        assert!(verify_password("murakumo-no-such-user-0000", dummy_hash()));
        assert!(!verify_password("kawa no nagare wa taezu", dummy_hash()));
    }

    #[test]
    fn password_rules_hold_exactly_at_their_limits() {
        // Exactly MIN_DISTINCT_CHARS distinct characters pass, one fewer do not.
        assert_eq!(check_password("abcdeabcdeab", None), Ok(()));
        assert_eq!(
            check_password("abcdabcdabcd", None),
            Err(AuthError::PasswordTooSimple)
        );
        // An empty or blank login id is not "contained" in every password.
        assert_eq!(check_password("kawa no nagare wa taezu", Some("")), Ok(()));
        assert_eq!(
            check_password("kawa no nagare wa taezu", Some("   ")),
            Ok(())
        );
        // A login id is matched whatever its case and surrounding spaces.
        assert_eq!(
            check_password("kawa no SATO nagare", Some(" Sato ")),
            Err(AuthError::PasswordContainsLogin)
        );
    }

    #[test]
    fn common_password_list_comments_are_not_passwords() {
        // Comment lines of the list are not entries: a password that reads
        // like one (all lower case, as the list is compared) is accepted.
        let comment = COMMON_PASSWORDS
            .lines()
            .find(|l| l.starts_with('#') && *l == l.to_lowercase() && l.len() >= 12)
            .expect("a lower-case comment line");
        assert_eq!(check_password(comment, None), Ok(()));
        // Entries match case-insensitively and around spaces.
        assert_eq!(
            check_password("  PASSWORD1234 ", None),
            Err(AuthError::PasswordCommon)
        );
    }

    #[test]
    fn generated_passwords_use_the_whole_alphabet_without_look_alikes() {
        const ALPHABET: &str = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        let mut seen = std::collections::BTreeSet::new();
        // 300 × 16 characters over 56 symbols: the chance that a fair
        // generator misses one is below 10⁻³⁰.
        for _ in 0..300 {
            let p = generate_password();
            assert_eq!(p.chars().count(), 16);
            assert!(p.chars().all(|c| ALPHABET.contains(c)), "{p}");
            seen.extend(p.chars());
        }
        assert_eq!(seen.len(), ALPHABET.len(), "{seen:?}");
        for c in ['0', 'O', '1', 'l', 'I'] {
            assert!(!seen.contains(&c));
        }
    }

    #[test]
    fn generated_passwords_for_a_login_pass_its_policy() {
        let a = generate_password_for("ab");
        let b = generate_password_for("ab");
        assert_eq!(a.chars().count(), 16);
        assert_ne!(a, b);
        assert_eq!(check_password(&a, Some("ab")), Ok(()));
        assert!(!a.to_lowercase().contains("ab"));
    }

    #[test]
    fn token_hashes_are_keyed_digests_of_the_token() {
        let (a, ha) = new_session_token();
        let (b, hb) = new_session_token();
        assert_eq!(ha.len(), 32);
        assert_ne!(ha, hb);
        assert_eq!(token_hash(&b), hb);
        assert_eq!(
            ha,
            blake3::derive_key("murakumo 2026 session token v1", a.as_bytes()).to_vec()
        );
        // Not a plain hash of the token: the key separates it from other uses.
        assert_ne!(ha, blake3::hash(a.as_bytes()).as_bytes().to_vec());
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn throttling_delays_progressively() {
        let s = 1_000_000;
        let rule = ThrottleRule {
            free_failures: 5,
            first_delay_us: 30 * s,
            max_delay_us: 15 * 60 * s,
        };
        let now = 1_000 * s;
        assert_eq!(rule.next_attempt_at(0, now), None);
        assert_eq!(rule.next_attempt_at(4, now), None);
        assert_eq!(rule.next_attempt_at(5, now), Some(now + 30 * s));
        assert_eq!(rule.next_attempt_at(6, now), Some(now + 60 * s));
        assert_eq!(rule.next_attempt_at(7, now), Some(now + 120 * s));
        // Capped: nobody is locked out for longer than the longest delay.
        assert_eq!(rule.next_attempt_at(60, now), Some(now + 15 * 60 * s));
        assert_eq!(rule.next_attempt_at(u32::MAX, now), Some(now + 15 * 60 * s));
        // Forgotten after twice the longest delay.
        assert_eq!(rule.current(9, now, now + 30 * 60 * s), 9);
        assert_eq!(rule.current(9, now, now + 30 * 60 * s + 1), 0);
    }
}
