//! Who may read what: the routes' access classes, the credentials a request may
//! present, and their check.
//!
//! Credentials, any of which opens every route:
//! - the generated token ([`super::credential`]) as `Authorization: Bearer <token>` or
//!   as basic auth with user `gomon`;
//! - the operator's token file (`api_token_file`), as `Bearer`;
//! - a user of the web config's `basic_auth_users` (bcrypt), as basic auth;
//! - a client certificate the TLS layer verified against the web config's client CA.
//!
//! bcrypt is slow by design: a successful or failed (user, hash, password) check is
//! cached (100 entries, by digest, never the password itself), and at most one bcrypt
//! runs at a time, on a blocking thread, with at most [`MAX_BCRYPT_WAITING`] requests
//! queued behind it (more are answered 503), so a flood of wrong passwords costs one
//! core and never the async workers.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;
use hyper::HeaderMap;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use super::credential::BASIC_USER;

/// (user, hash, password) checks remembered.
const CACHE_ENTRIES: usize = 100;
/// Requests allowed to wait for the bcrypt thread.
pub const MAX_BCRYPT_WAITING: usize = 16;
/// Longest `Authorization` header considered.
const MAX_AUTHORIZATION_BYTES: usize = 4096;
/// A bcrypt hash of a password nobody has, checked for unknown users so that a
/// wrong user costs as long as a wrong password (no user enumeration by timing).
const DUMMY_HASH: &str = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";

/// What a route reveals, and so what it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Nothing beyond gomon's presence (the index page).
    Open,
    /// The metrics: open like node_exporter's, unless the web config has users.
    Scrape,
    /// Logs, processes, command lines, connections, probe internals.
    Private,
}

/// What a request presented in its `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presented {
    /// No header.
    Nothing,
    /// `Bearer <token>`.
    Bearer(String),
    /// `Basic base64(user:password)`.
    Basic {
        /// The user.
        user: String,
        /// The password.
        password: String,
    },
    /// A header gomon cannot read (another scheme, bad base64, too long, not UTF-8).
    Unreadable,
}

/// Reads an `Authorization` header value. Never panics, whatever the bytes.
pub fn parse_authorization(value: Option<&[u8]>) -> Presented {
    let Some(value) = value else { return Presented::Nothing };
    if value.len() > MAX_AUTHORIZATION_BYTES {
        return Presented::Unreadable;
    }
    let Ok(text) = std::str::from_utf8(value) else { return Presented::Unreadable };
    let text = text.trim();
    let (scheme, rest) = text.split_once(' ').unwrap_or((text, ""));
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty() {
        return Presented::Bearer(rest.to_owned());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(rest) else {
            return Presented::Unreadable;
        };
        let Ok(decoded) = String::from_utf8(decoded) else { return Presented::Unreadable };
        return match decoded.split_once(':') {
            Some((user, password)) => Presented::Basic { user: user.to_owned(), password: password.to_owned() },
            None => Presented::Unreadable,
        };
    }
    Presented::Unreadable
}

/// Who a request proved to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The generated token or the `api_token_file` token.
    Token,
    /// A web config user.
    User(String),
    /// A client certificate the TLS layer verified.
    ClientCertificate,
}

/// Why a request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// No credential presented.
    Missing,
    /// A credential that is wrong or unreadable.
    Wrong,
    /// Too many password checks waiting.
    Busy,
}

/// The credentials gomon accepts and the bcrypt cache.
pub struct Authenticator {
    /// SHA-256 of each accepted token.
    tokens: Vec<[u8; 32]>,
    /// Web config users: name → bcrypt hash.
    users: BTreeMap<String, String>,
    cache: Mutex<HashMap<[u8; 32], bool>>,
    bcrypt: Semaphore,
    waiting: AtomicUsize,
    checks: AtomicUsize,
}

/// SHA-256 of a token, so tokens are compared as digests (no timing leak of the token).
pub fn token_digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Authenticator {
    /// Accepts `tokens` (bearer, and basic with user `gomon`) and `users` (basic, bcrypt).
    pub fn new(tokens: &[&str], users: BTreeMap<String, String>) -> Self {
        Authenticator {
            tokens: tokens.iter().map(|t| token_digest(t)).collect(),
            users,
            cache: Mutex::new(HashMap::new()),
            bcrypt: Semaphore::new(1),
            waiting: AtomicUsize::new(0),
            checks: AtomicUsize::new(0),
        }
    }

    /// Whether the web config has basic-auth users (then `/metrics` needs a credential).
    pub fn has_users(&self) -> bool {
        !self.users.is_empty()
    }

    /// bcrypt checks run so far (for tests).
    pub fn bcrypt_checks(&self) -> usize {
        self.checks.load(Ordering::Relaxed)
    }

    fn token_ok(&self, token: &str) -> bool {
        let digest = token_digest(token.trim());
        // Every digest is compared, so the time does not depend on which one matched.
        self.tokens.iter().fold(false, |found, t| found | constant_time_eq(t, &digest))
    }

    /// Checks a request's credential; `client_certificate` says whether TLS verified one.
    pub async fn check(&self, headers: &HeaderMap, client_certificate: bool) -> Result<Principal, Denied> {
        if client_certificate {
            return Ok(Principal::ClientCertificate);
        }
        let values = headers.get_all(hyper::header::AUTHORIZATION);
        let mut iter = values.iter();
        let presented = match (iter.next(), iter.next()) {
            (None, _) => Presented::Nothing,
            (Some(value), None) => parse_authorization(Some(value.as_bytes())),
            (Some(_), Some(_)) => Presented::Unreadable,
        };
        match presented {
            Presented::Nothing => Err(Denied::Missing),
            Presented::Unreadable => Err(Denied::Wrong),
            Presented::Bearer(token) => self.token_ok(&token).then_some(Principal::Token).ok_or(Denied::Wrong),
            Presented::Basic { user, password } => {
                if user == BASIC_USER && self.token_ok(&password) {
                    return Ok(Principal::Token);
                }
                if self.users.is_empty() {
                    return Err(Denied::Wrong);
                }
                match self.password_ok(&user, &password).await {
                    Ok(true) => Ok(Principal::User(user)),
                    Ok(false) => Err(Denied::Wrong),
                    Err(busy) => Err(busy),
                }
            }
        }
    }

    /// bcrypt, cached, one at a time, off the async workers.
    async fn password_ok(&self, user: &str, password: &str) -> Result<bool, Denied> {
        let known = self.users.get(user);
        let hash = known.map(String::as_str).unwrap_or(DUMMY_HASH).to_owned();
        let key: [u8; 32] = {
            let mut digest = Sha256::new();
            for part in [user.as_bytes(), hash.as_bytes(), password.as_bytes()] {
                digest.update((part.len() as u64).to_le_bytes());
                digest.update(part);
            }
            digest.finalize().into()
        };
        if let Some(ok) = lock(&self.cache).get(&key) {
            return Ok(*ok && known.is_some());
        }
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= MAX_BCRYPT_WAITING {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(Denied::Busy);
        }
        let permit = self.bcrypt.acquire().await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        let _permit = permit.map_err(|_| Denied::Busy)?;
        // Another request may have checked the same pair while this one waited.
        if let Some(ok) = lock(&self.cache).get(&key) {
            return Ok(*ok && known.is_some());
        }
        let password = password.to_owned();
        self.checks.fetch_add(1, Ordering::Relaxed);
        let ok = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
            .await
            .unwrap_or(false);
        let mut cache = lock(&self.cache);
        if cache.len() >= CACHE_ENTRIES {
            // Drop a tenth; HashMap's per-process random order makes the choice arbitrary.
            let drop: Vec<[u8; 32]> = cache.keys().take(CACHE_ENTRIES / 10).copied().collect();
            for k in drop {
                cache.remove(&k);
            }
        }
        cache.insert(key, ok);
        Ok(ok && known.is_some())
    }
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(hyper::header::AUTHORIZATION, value.parse().unwrap());
        h
    }

    fn basic(user: &str, password: &str) -> String {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
    }

    #[test]
    fn authorization_headers_are_read() {
        assert_eq!(parse_authorization(None), Presented::Nothing);
        assert_eq!(parse_authorization(Some(b"Bearer abc ")), Presented::Bearer("abc".into()));
        assert_eq!(parse_authorization(Some(b"bearer  abc")), Presented::Bearer("abc".into()));
        assert_eq!(
            parse_authorization(Some(basic("gomon", "p:w").as_bytes())),
            Presented::Basic { user: "gomon".into(), password: "p:w".into() }
        );
        for bad in [&b"Bearer"[..], b"Basic !!!", b"Basic Z29tb24=", b"Digest x", b"\xff\xfe", b""] {
            assert_eq!(parse_authorization(Some(bad)), Presented::Unreadable, "{bad:?}");
        }
        assert_eq!(parse_authorization(Some(&vec![b'a'; 5000])), Presented::Unreadable);
    }

    #[tokio::test]
    async fn tokens_users_and_certificates() {
        // Cost 4: the cheapest bcrypt, so the test is quick.
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let auth = Authenticator::new(&["tok-1", "tok-2"], BTreeMap::from([("alice".to_owned(), hash)]));
        assert_eq!(auth.check(&HeaderMap::new(), false).await, Err(Denied::Missing));
        assert_eq!(auth.check(&HeaderMap::new(), true).await, Ok(Principal::ClientCertificate));
        assert_eq!(auth.check(&headers("Bearer tok-1"), false).await, Ok(Principal::Token));
        assert_eq!(auth.check(&headers("Bearer tok-2"), false).await, Ok(Principal::Token));
        assert_eq!(auth.check(&headers("Bearer tok-3"), false).await, Err(Denied::Wrong));
        assert_eq!(auth.check(&headers(&basic("gomon", "tok-1")), false).await, Ok(Principal::Token));
        assert_eq!(auth.check(&headers(&basic("root", "tok-1")), false).await, Err(Denied::Wrong));
        assert_eq!(auth.check(&headers(&basic("alice", "s3cret")), false).await, Ok(Principal::User("alice".into())));
        assert_eq!(auth.check(&headers(&basic("alice", "wrong")), false).await, Err(Denied::Wrong));
        assert_eq!(auth.check(&headers(&basic("mallory", "s3cret")), false).await, Err(Denied::Wrong));
        let before = auth.bcrypt_checks();
        for _ in 0..5 {
            assert_eq!(
                auth.check(&headers(&basic("alice", "s3cret")), false).await,
                Ok(Principal::User("alice".into()))
            );
            assert_eq!(auth.check(&headers(&basic("alice", "wrong")), false).await, Err(Denied::Wrong));
        }
        assert_eq!(auth.bcrypt_checks(), before, "repeated checks come from the cache");
        let mut two = headers("Bearer tok-1");
        two.append(hyper::header::AUTHORIZATION, "Bearer tok-1".parse().unwrap());
        assert_eq!(auth.check(&two, false).await, Err(Denied::Wrong), "two Authorization headers");
    }

    #[tokio::test]
    async fn without_users_no_bcrypt_runs() {
        let auth = Authenticator::new(&["t"], BTreeMap::new());
        assert_eq!(auth.check(&headers(&basic("alice", "x")), false).await, Err(Denied::Wrong));
        assert_eq!(auth.bcrypt_checks(), 0);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::serve::proptest_cases()))]
        #[test]
        fn any_authorization_bytes_are_safe(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_authorization(Some(&bytes));
        }

        #[test]
        fn basic_round_trips(user in "[^:\\x00]{0,20}", password in "\\PC{0,40}") {
            let header = basic(&user, &password);
            prop_assert_eq!(parse_authorization(Some(header.as_bytes())), Presented::Basic { user, password });
        }
    }
}
