//! Per-site HTTP basic authentication (RFC 7617): the credentials a request
//! carries, checked against argon2id or bcrypt hashes, with the defences
//! password checks need on a public server:
//!
//! 1. no or malformed `Authorization` → [`Verdict::Challenge`] (never a panic);
//! 2. a client address over its failure limit → [`Verdict::Limited`], before
//!    any hashing, so that guessing passwords cannot exhaust the CPU;
//! 3. a credential verified in the last [`CACHE_TTL`] → [`Verdict::Allow`]
//!    without hashing (a browser sends it again on every request);
//! 4. otherwise the hash runs on tokio's blocking threads, at most a few at
//!    once ([`MAX_CONCURRENT_HASHES`]; past it requests wait their turn). An
//!    unknown user is checked against a dummy hash of the same algorithm and
//!    parameters as the first user's, so that the time does not tell which
//!    user names exist; a failure counts against the client address, a
//!    success is cached.
//!
//! Steps 1–3 are [`Auth::check_now`] (no hashing, callable anywhere); all four
//! are [`Auth::check`].
//!
//! The dummy copies the first user's hash, so an unknown name takes as long
//! as a wrong password only for users whose hashes have that algorithm and
//! those parameters: give every user of a site the same kind of hash
//! (`ferrox hash-password` makes them all alike).

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use http::HeaderValue;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq as _;
use tokio::sync::Semaphore;

/// Verified credentials remembered at once: a site's active users, with room
/// to spare; past it the entry closest to expiry goes.
pub const CACHE_CAPACITY: usize = 1024;

/// How long a verified credential is remembered: long enough that a browsing
/// session pays the hash once, short enough that a password changed on the
/// server (by a reload) or a stolen session stops working soon.
pub const CACHE_TTL: Duration = Duration::from_secs(5 * 60);

/// Client addresses whose failures are tracked at once. When full, the
/// oldest windows are dropped first: they are the nearest to their end.
pub const MAX_TRACKED_CLIENTS: usize = 4096;

/// Hash verifications running at once, at most (fewer on machines with fewer
/// cores): a verification holds one core and, for argon2, its memory cost,
/// so more at once adds no throughput, only memory and latency for the
/// rest of the server.
pub const MAX_CONCURRENT_HASHES: usize = 8;

/// bcrypt reads only the first 72 bytes of a password (71 plus its NUL
/// terminator here): a longer password is refused, never truncated, since
/// `a…a` + anything would match a hash of the first 72 bytes.
pub const BCRYPT_MAX_PASSWORD_BYTES: usize = 72;

/// The largest `user:password`, decoded (bytes). No real credential comes near
/// it; refusing longer ones keeps the decode and keyed hash of a hostile
/// header trivial.
pub const MAX_CREDENTIALS_BYTES: usize = 1024;

/// IPv6 clients are counted by their /64 (bits): one host usually holds a
/// whole /64, so counting single addresses would give it 2^64 tries.
pub const IPV6_CLIENT_PREFIX_BITS: u32 = 64;

/// The largest argon2 memory cost accepted in a configured hash (KiB, 256 MiB:
/// libsodium's "moderate"). Every failed login runs the hash: a typo of
/// an extra zero must not make each one take gigabytes.
pub const MAX_ARGON2_MEMORY_KIB: u32 = 256 * 1024;

/// The largest argon2 time cost (passes) accepted, for the same reason.
pub const MAX_ARGON2_PASSES: u32 = 16;

/// The largest argon2 parallelism (lanes) accepted, for the same reason.
pub const MAX_ARGON2_LANES: u32 = 16;

/// The largest bcrypt cost accepted (2^16 rounds, seconds per check on a
/// current core), for the same reason.
pub const MAX_BCRYPT_COST: u32 = 16;

/// bcrypt's own minimum cost.
const MIN_BCRYPT_COST: u32 = 4;

/// Bytes of salt in hashes made by [`hash_password`] (argon2's recommendation).
const SALT_BYTES: usize = 16;

/// What hashes are accepted, for error messages.
const ACCEPTED: &str = "accepted: argon2id ($argon2id$v=19$...) and bcrypt ($2a$, $2b$, $2y$); \
                        `ferrox hash-password` makes one";

/// What [`Auth::new`] is told.
#[derive(Clone)]
pub struct AuthOptions {
    /// The realm named in the challenge (no quote, backslash or control character).
    pub realm: String,
    /// User name and hash: an argon2id PHC string (`$argon2id$v=19$...`) or
    /// bcrypt (`$2a$`, `$2b$`, `$2y$`).
    pub users: Vec<(String, String)>,
    /// Failed attempts per client address per window; the next attempt in
    /// the window is refused with [`Verdict::Limited`] (at least 1).
    pub max_failures: u32,
    /// The window of `max_failures`, from a client's first failure.
    pub window: Duration,
}

/// Ten failures a minute: generous for a person mistyping, about 14,000 guesses
/// a day for a machine.
impl Default for AuthOptions {
    fn default() -> Self {
        AuthOptions {
            realm: "restricted".into(),
            users: Vec::new(),
            max_failures: 10,
            window: Duration::from_secs(60),
        }
    }
}

/// Names only: a hash is not printed anywhere.
impl fmt::Debug for AuthOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthOptions")
            .field("realm", &self.realm)
            .field("users", &UserNames(&self.users))
            .field("max_failures", &self.max_failures)
            .field("window", &self.window)
            .finish()
    }
}

struct UserNames<'a>(&'a [(String, String)]);

impl fmt::Debug for UserNames<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(u, _)| u))
            .finish()
    }
}

/// What is wrong with [`AuthOptions`]. Messages name the user, never print a
/// hash (it may be a password pasted by mistake).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthError {
    /// No users: nobody could sign in.
    NoUsers,
    /// A user name that cannot be sent or is given twice.
    User {
        /// The user name.
        user: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A user's hash is not one we accept, or is malformed.
    Hash {
        /// The user name.
        user: String,
        /// What is wrong with the hash.
        problem: String,
    },
    /// The realm has a character a quoted string cannot hold as is.
    Realm(char),
    /// `max_failures` or `window` is zero.
    Limit(&'static str),
    /// The system's random generator failed.
    Random,
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::NoUsers => f.write_str("no users: nobody could sign in"),
            AuthError::User { user, problem } => write!(f, "user {user:?}: {problem}"),
            AuthError::Hash { user, problem } => write!(f, "user {user:?}: hash: {problem}"),
            AuthError::Realm(c) => write!(
                f,
                "realm: contains {c:?}; quotes, backslashes and control characters are not allowed"
            ),
            AuthError::Limit(what) => write!(f, "{what} must not be zero"),
            AuthError::Random => f.write_str("the system random generator failed"),
        }
    }
}

impl std::error::Error for AuthError {}

/// What to answer a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Serve it.
    Allow,
    /// 401 with [`Auth::challenge`].
    Challenge,
    /// 429: the client address failed too often.
    Limited {
        /// Seconds until the window ends (for `Retry-After`; at least 1).
        retry_after: u64,
    },
}

/// A site's users and the state of their checks. Cheap to clone (shared).
#[derive(Clone)]
pub struct Auth {
    inner: Arc<Inner>,
}

/// The realm, user names and limits: never a hash.
impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("Auth")
            .field("realm", &i.realm)
            .field(
                "users",
                &i.users.iter().map(|u| &u.name).collect::<Vec<_>>(),
            )
            .field("max_failures", &i.max_failures)
            .field("window", &i.window)
            .field("concurrent_hashes", &i.permits)
            .finish_non_exhaustive()
    }
}

struct Inner {
    realm: String,
    challenge: HeaderValue,
    users: Vec<User>,
    /// What unknown users are checked against.
    dummy: Hash,
    /// Keys the tags of user names and cached credentials: random per
    /// process, so neither a tag nor its timing tells anything outside it.
    key: hmac::Key,
    max_failures: u32,
    window: Duration,
    /// Credential tag → when it expires.
    cache: Mutex<HashMap<Tag, Instant>>,
    /// Client (see [`client_key`]) → its failure window.
    failures: Mutex<HashMap<IpAddr, Window>>,
    hashing: Arc<Semaphore>,
    permits: usize,
    #[cfg(test)]
    running: std::sync::atomic::AtomicUsize,
    #[cfg(test)]
    peak: std::sync::atomic::AtomicUsize,
    #[cfg(test)]
    hashed: std::sync::atomic::AtomicUsize,
}

type Tag = [u8; 32];

struct User {
    name: String,
    /// The keyed hash of the name: fixed-length, so comparing it in constant
    /// time hides even the length of the names.
    tag: Tag,
    hash: Hash,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    failures: u32,
}

/// `user:password` from a header. No `Debug`: it holds a password.
struct Credentials {
    user: String,
    password: String,
}

/// A request's credentials, decided without hashing.
enum Quick {
    Verdict(Verdict),
    Hash(Credentials, IpAddr),
}

impl Auth {
    /// Checks the options and every hash; makes the dummy hash.
    pub fn new(options: AuthOptions) -> Result<Auth, AuthError> {
        if let Some(c) = options
            .realm
            .chars()
            .find(|&c| c == '"' || c == '\\' || c.is_control())
        {
            return Err(AuthError::Realm(c));
        }
        if options.max_failures == 0 {
            return Err(AuthError::Limit("max_failures"));
        }
        if options.window.is_zero() {
            return Err(AuthError::Limit("window"));
        }
        let challenge = HeaderValue::try_from(format!(
            "Basic realm=\"{}\", charset=\"UTF-8\"",
            options.realm
        ))
        .map_err(|_| AuthError::Realm('"'))?;
        let rng = SystemRandom::new();
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &rng).map_err(|_| AuthError::Random)?;
        let mut users: Vec<User> = Vec::with_capacity(options.users.len());
        for (name, hash) in options.users {
            if let Some(problem) = bad_user_name(&name) {
                return Err(AuthError::User {
                    user: name,
                    problem,
                });
            }
            if users.iter().any(|u| u.name == name) {
                return Err(AuthError::User {
                    user: name,
                    problem: "given twice",
                });
            }
            let hash = match Hash::parse(&hash) {
                Ok(hash) => hash,
                Err(problem) => {
                    return Err(AuthError::Hash {
                        user: name,
                        problem,
                    })
                }
            };
            users.push(User {
                tag: name_tag(&key, &name),
                name,
                hash,
            });
        }
        let first = users.first().ok_or(AuthError::NoUsers)?;
        let dummy = first.hash.dummy(&rng).ok_or(AuthError::Random)?;
        let permits = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .clamp(1, MAX_CONCURRENT_HASHES);
        Ok(Auth {
            inner: Arc::new(Inner {
                realm: options.realm,
                challenge,
                users,
                dummy,
                key,
                max_failures: options.max_failures,
                window: options.window,
                cache: Mutex::default(),
                failures: Mutex::default(),
                hashing: Arc::new(Semaphore::new(permits)),
                permits,
                #[cfg(test)]
                running: Default::default(),
                #[cfg(test)]
                peak: Default::default(),
                #[cfg(test)]
                hashed: Default::default(),
            }),
        })
    }

    /// Without hashing: Some(verdict) when no or malformed credentials
    /// (Challenge), when the client address is over its failure limit
    /// (Limited), or when the credential is in the verified cache (Allow);
    /// None when a hash must be checked.
    pub fn check_now(
        &self,
        authorization: Option<&HeaderValue>,
        client: IpAddr,
    ) -> Option<Verdict> {
        match self.quick(authorization, client, Instant::now()) {
            Quick::Verdict(v) => Some(v),
            Quick::Hash(..) => None,
        }
    }

    /// The full check: hash verification runs off the runtime's threads
    /// (tokio::task::spawn_blocking) with bounded concurrency (a semaphore;
    /// past it requests wait, they are not refused), then counts a failure or
    /// caches the success.
    pub async fn check(&self, authorization: Option<&HeaderValue>, client: IpAddr) -> Verdict {
        let (credentials, client) = match self.quick(authorization, client, Instant::now()) {
            Quick::Verdict(v) => return v,
            Quick::Hash(credentials, client) => (credentials, client),
        };
        let Ok(permit) = Arc::clone(&self.inner.hashing).acquire_owned().await else {
            return Verdict::Challenge;
        };
        // While this request waited, others may have verified the same
        // credential or used up the client's failures.
        let now = Instant::now();
        let tag = self.inner.credential_tag(&credentials);
        if let Some(v) = self.inner.limited(client, now) {
            return v;
        }
        if self.inner.cached(&tag, now) {
            return Verdict::Allow;
        }
        // Counted as a failure before hashing, refunded on success: parallel
        // requests from one client get `max_failures` hashes, not more.
        let window = match self.inner.reserve(client, now) {
            Ok(start) => start,
            Err(v) => return v,
        };
        let inner = Arc::clone(&self.inner);
        // The permit, the refund and the caching go with the blocking task:
        // a request dropped meanwhile still frees its place only when the
        // hash is done, and its attempt still counts.
        let verified = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let ok = inner.verify(&credentials);
            if ok {
                let now = Instant::now();
                inner.refund(client, window);
                inner.remember(tag, now);
            }
            ok
        })
        .await;
        match verified {
            Ok(true) => Verdict::Allow,
            Ok(false) | Err(_) => Verdict::Challenge,
        }
    }

    /// `Basic realm="staff", charset="UTF-8"`
    pub fn challenge(&self) -> HeaderValue {
        self.inner.challenge.clone()
    }

    fn quick(&self, authorization: Option<&HeaderValue>, client: IpAddr, now: Instant) -> Quick {
        let Some(credentials) = authorization.and_then(parse_basic) else {
            return Quick::Verdict(Verdict::Challenge);
        };
        // The limit before the cache: a cache hit would otherwise let a
        // limited client keep guessing, for free, passwords someone has just
        // used.
        let client = client_key(client);
        if let Some(v) = self.inner.limited(client, now) {
            return Quick::Verdict(v);
        }
        if self
            .inner
            .cached(&self.inner.credential_tag(&credentials), now)
        {
            return Quick::Verdict(Verdict::Allow);
        }
        Quick::Hash(credentials, client)
    }
}

impl Inner {
    /// Whether the password is the user's; an unknown user costs the same.
    fn verify(&self, credentials: &Credentials) -> bool {
        #[cfg(test)]
        let _running = Running::start(self);
        let tag = name_tag(&self.key, &credentials.user);
        let mut found = None;
        // Every user compared, in constant time: no early exit to time.
        for user in &self.users {
            if bool::from(user.tag.ct_eq(&tag)) {
                found = Some(&user.hash);
            }
        }
        let hash = found.unwrap_or(&self.dummy);
        let ok = hash.verify(credentials.password.as_bytes());
        ok && found.is_some()
    }

    /// `Limited` when the client has used up its failures in its window.
    fn limited(&self, client: IpAddr, now: Instant) -> Option<Verdict> {
        let mut failures = lock(&self.failures);
        let w = *failures.get(&client)?;
        let elapsed = now.saturating_duration_since(w.start);
        if elapsed >= self.window {
            failures.remove(&client);
            return None;
        }
        (w.failures >= self.max_failures).then(|| Verdict::Limited {
            retry_after: seconds_up(self.window.saturating_sub(elapsed)),
        })
    }

    /// Counts a failure ahead of a hash; the start of the window it is
    /// counted in, or `Limited`.
    fn reserve(&self, client: IpAddr, now: Instant) -> Result<Instant, Verdict> {
        let mut failures = lock(&self.failures);
        let fresh = Window {
            start: now,
            failures: 0,
        };
        if !failures.contains_key(&client) && failures.len() >= MAX_TRACKED_CLIENTS {
            let window = self.window;
            failures.retain(|_, w| now.saturating_duration_since(w.start) < window);
            while failures.len() >= MAX_TRACKED_CLIENTS {
                let Some(oldest) = failures
                    .iter()
                    .min_by_key(|(_, w)| w.start)
                    .map(|(k, _)| *k)
                else {
                    break;
                };
                failures.remove(&oldest);
            }
        }
        let w = failures.entry(client).or_insert(fresh);
        let elapsed = now.saturating_duration_since(w.start);
        if elapsed >= self.window {
            *w = fresh;
        } else if w.failures >= self.max_failures {
            return Err(Verdict::Limited {
                retry_after: seconds_up(self.window.saturating_sub(elapsed)),
            });
        }
        w.failures = w.failures.saturating_add(1);
        Ok(w.start)
    }

    /// Takes back a failure counted by [`Inner::reserve`] for an attempt that
    /// succeeded (only in the window it was counted in).
    fn refund(&self, client: IpAddr, window: Instant) {
        let mut failures = lock(&self.failures);
        if let Some(w) = failures.get_mut(&client) {
            if w.start == window {
                w.failures = w.failures.saturating_sub(1);
            }
        }
    }

    fn credential_tag(&self, c: &Credentials) -> Tag {
        // The user's length first: `ab` + `c` and `a` + `bc` differ.
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(b"credential\0");
        ctx.update(&(c.user.len() as u64).to_be_bytes());
        ctx.update(c.user.as_bytes());
        ctx.update(c.password.as_bytes());
        to_tag(ctx.sign())
    }

    fn cached(&self, tag: &Tag, now: Instant) -> bool {
        let mut cache = lock(&self.cache);
        match cache.get(tag) {
            Some(&expires) if now < expires => true,
            Some(_) => {
                cache.remove(tag);
                false
            }
            None => false,
        }
    }

    fn remember(&self, tag: Tag, now: Instant) {
        let mut cache = lock(&self.cache);
        if !cache.contains_key(&tag) && cache.len() >= CACHE_CAPACITY {
            cache.retain(|_, &mut expires| now < expires);
            while cache.len() >= CACHE_CAPACITY {
                let Some(oldest) = cache.iter().min_by_key(|(_, e)| **e).map(|(k, _)| *k) else {
                    break;
                };
                cache.remove(&oldest);
            }
        }
        cache.insert(tag, now.checked_add(CACHE_TTL).unwrap_or(now));
    }
}

/// Counts the hashes running at once (tests of the semaphore).
#[cfg(test)]
struct Running<'a>(&'a Inner);

#[cfg(test)]
impl<'a> Running<'a> {
    fn start(inner: &'a Inner) -> Self {
        use std::sync::atomic::Ordering::SeqCst;
        inner.hashed.fetch_add(1, SeqCst);
        let now = inner.running.fetch_add(1, SeqCst) + 1;
        inner.peak.fetch_max(now, SeqCst);
        Running(inner)
    }
}

#[cfg(test)]
impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0
            .running
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A state's lock; a panic elsewhere while it was held left a consistent
/// table (every update is one statement), so poisoning is ignored.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn seconds_up(d: Duration) -> u64 {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

fn to_tag(t: hmac::Tag) -> Tag {
    let mut tag = [0; 32];
    for (a, b) in tag.iter_mut().zip(t.as_ref()) {
        *a = *b;
    }
    tag
}

fn name_tag(key: &hmac::Key, name: &str) -> Tag {
    let mut ctx = hmac::Context::with_key(key);
    ctx.update(b"user\0");
    ctx.update(name.as_bytes());
    to_tag(ctx.sign())
}

/// What the failures of `ip` are counted under: IPv4-mapped IPv6 as the IPv4
/// address, other IPv6 by its /64.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mask = u128::MAX
                    .checked_shl(128 - IPV6_CLIENT_PREFIX_BITS)
                    .unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
            }
        },
    }
}

fn bad_user_name(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("an empty user name")
    } else if name.contains(':') {
        Some("a user name cannot contain ':' (basic authentication splits at the first one)")
    } else if name.chars().any(char::is_control) {
        Some("a user name cannot contain control characters")
    } else {
        None
    }
}

/// base64 as browsers send it; padding is optional, as some clients drop it.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// `Basic base64(user:password)`: the scheme in any case, one space, the
/// password split at the first colon, UTF-8 both.
fn parse_basic(value: &HeaderValue) -> Option<Credentials> {
    let bytes = value.as_bytes();
    let (scheme, token) = (bytes.get(..6)?, bytes.get(6..)?);
    if !scheme.eq_ignore_ascii_case(b"basic ") {
        return None;
    }
    if token.len() > MAX_CREDENTIALS_BYTES.div_ceil(3) * 4 {
        return None;
    }
    let decoded = BASE64.decode(token).ok()?;
    if decoded.len() > MAX_CREDENTIALS_BYTES {
        return None;
    }
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some(Credentials {
        user: user.to_owned(),
        password: password.to_owned(),
    })
}

/// A configured hash, parsed once. No `Debug`: never printed.
enum Hash {
    Argon2 {
        version: Version,
        params: Params,
        salt: Vec<u8>,
        expected: Vec<u8>,
    },
    /// Kept as text: the bcrypt crate parses it again on each check
    /// (microseconds beside the hash).
    Bcrypt { text: String, cost: u32 },
}

impl Hash {
    fn parse(text: &str) -> Result<Hash, String> {
        if text.starts_with("$argon2id$") {
            parse_argon2id(text)
        } else if ["$2a$", "$2b$", "$2y$"].iter().any(|p| text.starts_with(p)) {
            parse_bcrypt(text)
        } else {
            Err(format!("{}; {ACCEPTED}", unaccepted(text)))
        }
    }

    /// A hash of the same algorithm and parameters, of no password: its salt
    /// and output are random (as a real one's look), so it costs nothing to
    /// make and matches nothing.
    fn dummy(&self, rng: &SystemRandom) -> Option<Hash> {
        let random = |len: usize| {
            let mut bytes = vec![0; len];
            rng.fill(&mut bytes).ok().map(|()| bytes)
        };
        Some(match self {
            Hash::Argon2 {
                version,
                params,
                salt,
                expected,
            } => Hash::Argon2 {
                version: *version,
                params: params.clone(),
                salt: random(salt.len())?,
                expected: random(expected.len())?,
            },
            Hash::Bcrypt { cost, .. } => {
                // 16 bytes of salt, 23 of output: bcrypt's sizes.
                let salt = bcrypt::BASE_64.encode(random(16)?);
                let output = bcrypt::BASE_64.encode(random(23)?);
                Hash::Bcrypt {
                    text: format!("$2b${cost:02}${salt}{output}"),
                    cost: *cost,
                }
            }
        })
    }

    fn verify(&self, password: &[u8]) -> bool {
        match self {
            Hash::Argon2 {
                version,
                params,
                salt,
                expected,
            } => {
                let mut out = vec![0; expected.len()];
                Argon2::new(Algorithm::Argon2id, *version, params.clone())
                    .hash_password_into(password, salt, &mut out)
                    .is_ok()
                    && bool::from(out.ct_eq(expected))
            }
            Hash::Bcrypt { text, .. } => {
                if password.len() >= BCRYPT_MAX_PASSWORD_BYTES {
                    // Refused, after the same work as a wrong password.
                    let head = password.get(..BCRYPT_MAX_PASSWORD_BYTES - 1).unwrap_or(b"");
                    let _ = bcrypt::verify(head, text);
                    return false;
                }
                bcrypt::non_truncating_verify(password, text).unwrap_or(false)
            }
        }
    }
}

fn parse_argon2id(text: &str) -> Result<Hash, String> {
    let phc = PasswordHash::new(text).map_err(|e| format!("not a valid argon2id hash ({e})"))?;
    let version = match phc.version {
        Some(19) => Version::V0x13,
        Some(v) => return Err(format!("argon2 version {v}; only v=19 is accepted")),
        None => return Err("argon2id without a version; only v=19 is accepted".into()),
    };
    let params =
        Params::try_from(&phc).map_err(|e| format!("argon2id parameters are not valid ({e})"))?;
    if params.m_cost() > MAX_ARGON2_MEMORY_KIB {
        return Err(format!(
            "argon2id memory cost m={} KiB is over the limit of {MAX_ARGON2_MEMORY_KIB} KiB",
            params.m_cost()
        ));
    }
    if params.t_cost() > MAX_ARGON2_PASSES {
        return Err(format!(
            "argon2id time cost t={} is over the limit of {MAX_ARGON2_PASSES}",
            params.t_cost()
        ));
    }
    if params.p_cost() > MAX_ARGON2_LANES {
        return Err(format!(
            "argon2id parallelism p={} is over the limit of {MAX_ARGON2_LANES}",
            params.p_cost()
        ));
    }
    let salt = phc.salt.ok_or("argon2id hash without a salt")?;
    let mut buf = [0; 64];
    let salt = salt
        .decode_b64(&mut buf)
        .map_err(|e| format!("argon2id salt is not valid ({e})"))?;
    if salt.len() < argon2::MIN_SALT_LEN {
        return Err(format!(
            "argon2id salt of {} bytes is shorter than {}",
            salt.len(),
            argon2::MIN_SALT_LEN
        ));
    }
    let expected = phc.hash.ok_or("argon2id hash without its output")?;
    Ok(Hash::Argon2 {
        version,
        params,
        salt: salt.to_vec(),
        expected: expected.as_bytes().to_vec(),
    })
}

fn parse_bcrypt(text: &str) -> Result<Hash, String> {
    // `$2b$` cost `$` then 22 characters of salt and 31 of output.
    if text.len() != 60 {
        return Err(format!(
            "bcrypt hash of {} characters; bcrypt hashes have 60",
            text.len()
        ));
    }
    let rest = text.get(4..).unwrap_or("");
    let (cost, rest) = rest
        .split_once('$')
        .ok_or("bcrypt hash without its cost ($2b$12$...)")?;
    let cost: u32 = match cost.as_bytes() {
        [a, b] if a.is_ascii_digit() && b.is_ascii_digit() => {
            u32::from(a - b'0') * 10 + u32::from(b - b'0')
        }
        _ => return Err("bcrypt cost is not two digits ($2b$12$...)".into()),
    };
    if !(MIN_BCRYPT_COST..=MAX_BCRYPT_COST).contains(&cost) {
        return Err(format!(
            "bcrypt cost {cost} is outside {MIN_BCRYPT_COST}..={MAX_BCRYPT_COST}"
        ));
    }
    let (Some(salt), Some(output)) = (rest.get(..22), rest.get(22..)) else {
        return Err("bcrypt hash is malformed".into());
    };
    let salt_ok = bcrypt::BASE_64.decode(salt).is_ok_and(|s| s.len() == 16);
    let output_ok = output.len() == 31 && bcrypt::BASE_64.decode(output).is_ok();
    if !salt_ok || !output_ok {
        return Err("bcrypt salt or output is malformed (53 characters of ./A-Za-z0-9)".into());
    }
    Ok(Hash::Bcrypt {
        text: text.to_owned(),
        cost,
    })
}

/// What kind of hash `text` is, for refusing it: never `text` itself.
fn unaccepted(text: &str) -> &'static str {
    const KNOWN: &[(&str, &str)] = &[
        ("$argon2i$", "argon2i is not accepted (argon2id only)"),
        ("$argon2d$", "argon2d is not accepted (argon2id only)"),
        (
            "$2x$",
            "bcrypt $2x$ (the variant with the old sign bug) is not accepted",
        ),
        ("$apr1$", "Apache MD5 ($apr1$) is not accepted"),
        ("$1$", "MD5-crypt ($1$) is not accepted"),
        ("$5$", "SHA-256-crypt ($5$) is not accepted"),
        ("$6$", "SHA-512-crypt ($6$) is not accepted"),
        ("{SHA}", "SHA-1 ({SHA}) is not accepted"),
    ];
    KNOWN
        .iter()
        .find(|(prefix, _)| text.starts_with(prefix))
        .map_or(
            "not an accepted hash (a plain password or crypt()?)",
            |(_, what)| what,
        )
}

/// One `user:hash` per line; blank lines and `#` comments allowed. Errors
/// name the line (from 1).
pub fn parse_htpasswd(text: &str) -> Result<Vec<(String, String)>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut users: Vec<(String, String)> = Vec::new();
    let mut lines_of: HashMap<String, usize> = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (user, hash) = line
            .split_once(':')
            .ok_or_else(|| format!("line {n}: expected user:hash"))?;
        let (user, hash) = (user.trim(), hash.trim());
        if let Some(problem) = bad_user_name(user) {
            return Err(format!("line {n}: {problem}"));
        }
        if let Some(first) = lines_of.get(user) {
            return Err(format!(
                "line {n}: user {user:?} is already on line {first}"
            ));
        }
        Hash::parse(hash).map_err(|problem| format!("line {n}: user {user:?}: {problem}"))?;
        lines_of.insert(user.to_owned(), n);
        users.push((user.to_owned(), hash.to_owned()));
    }
    Ok(users)
}

/// argon2id with the crate's default (OWASP) parameters and a random salt.
pub fn hash_password(password: &[u8]) -> Result<String, String> {
    if password.is_empty() {
        return Err("the password is empty".into());
    }
    let mut salt = [0; SALT_BYTES];
    SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| "the system random generator failed".to_string())?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password, &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::sync::atomic::Ordering::SeqCst;

    /// Cheap hashes keep the tests fast in debug builds; the code paths are
    /// the same at any cost.
    const TEST_M_KIB: u32 = 1024;

    fn argon2_hash(password: &str, m_kib: u32, passes: u32) -> String {
        let params = Params::new(m_kib, passes, 1, None).unwrap();
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(password.as_bytes(), &salt)
            .unwrap()
            .to_string()
    }

    fn basic(user_password: &str) -> HeaderValue {
        basic_bytes(user_password.as_bytes())
    }

    fn basic_bytes(user_password: &[u8]) -> HeaderValue {
        let token = base64::engine::general_purpose::STANDARD.encode(user_password);
        HeaderValue::try_from(format!("Basic {token}")).unwrap()
    }

    fn auth_with(users: &[(&str, String)], max_failures: u32) -> Auth {
        Auth::new(AuthOptions {
            realm: "staff".into(),
            users: users
                .iter()
                .map(|(u, h)| (u.to_string(), h.clone()))
                .collect(),
            max_failures,
            window: Duration::from_secs(60),
        })
        .unwrap()
    }

    fn alice() -> Auth {
        auth_with(&[("alice", argon2_hash("pa:ss", TEST_M_KIB, 1))], 10)
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap()
    }

    /// `check_now` at a given time.
    fn now_at(auth: &Auth, h: &HeaderValue, client: IpAddr, now: Instant) -> Option<Verdict> {
        match auth.quick(Some(h), client, now) {
            Quick::Verdict(v) => Some(v),
            Quick::Hash(..) => None,
        }
    }

    fn hashed(auth: &Auth) -> usize {
        auth.inner.hashed.load(SeqCst)
    }

    #[test]
    fn header_values() {
        let b64 = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
        type Case = (Vec<u8>, Option<(&'static str, &'static str)>);
        let table: &[Case] = &[
            (
                format!("Basic {}", b64(b"alice:pw")).into(),
                Some(("alice", "pw")),
            ),
            (
                format!("basic {}", b64(b"alice:pw")).into(),
                Some(("alice", "pw")),
            ),
            (
                format!("BASIC {}", b64(b"alice:pw")).into(),
                Some(("alice", "pw")),
            ),
            (
                format!("bAsIc {}", b64(b"a:b:c")).into(),
                Some(("a", "b:c")),
            ),
            (
                format!("Basic {}", b64(b"alice:")).into(),
                Some(("alice", "")),
            ),
            (format!("Basic {}", b64(b":pw")).into(), Some(("", "pw"))),
            (
                format!("Basic {}", b64("jöh:pä".as_bytes())).into(),
                Some(("jöh", "pä")),
            ),
            // Padding dropped, as some clients do.
            (b"Basic YWxpY2U6cHc".to_vec(), Some(("alice", "pw"))),
            (format!("Basic  {}", b64(b"alice:pw")).into(), None),
            (format!("Basic\t{}", b64(b"alice:pw")).into(), None),
            (format!("Basic {} ", b64(b"alice:pw")).into(), None),
            (format!("Bearer {}", b64(b"alice:pw")).into(), None),
            (format!("Basicx{}", b64(b"alice:pw")).into(), None),
            (b"Basic".to_vec(), None),
            (b"Basic ".to_vec(), None),
            (b"".to_vec(), None),
            (b"Basic !!!!".to_vec(), None),
            (b"Basic YWxpY2U6cHc===".to_vec(), None),
            (b"Basic YQ".to_vec(), None),
            (format!("Basic {}", b64(b"nocolon")).into(), None),
            (format!("Basic {}", b64(b"al\xffce:pw")).into(), None),
            (format!("Basic {}", b64(b"alice:p\xc3")).into(), None),
            (
                format!("Basic {}", b64(&[b'a'; MAX_CREDENTIALS_BYTES + 3])).into(),
                None,
            ),
            (b"Basic \xff\xfe".to_vec(), None),
        ];
        for (value, want) in table {
            let value = HeaderValue::from_bytes(value).unwrap();
            let got = parse_basic(&value).map(|c| (c.user, c.password));
            let want = want.map(|(u, p)| (u.to_string(), p.to_string()));
            assert_eq!(got, want, "{value:?}");
        }
        // The longest credential is accepted, one byte more is not.
        let mut long = b"u:".to_vec();
        long.resize(MAX_CREDENTIALS_BYTES, b'p');
        assert!(parse_basic(&basic_bytes(&long)).is_some());
        long.push(b'p');
        assert!(parse_basic(&basic_bytes(&long)).is_none());
    }

    #[test]
    fn missing_or_malformed_credentials_are_challenged() {
        let auth = alice();
        assert_eq!(auth.check_now(None, ip(1)), Some(Verdict::Challenge));
        let bad = HeaderValue::from_static("Basic %%%");
        assert_eq!(auth.check_now(Some(&bad), ip(1)), Some(Verdict::Challenge));
        let r = rt();
        assert_eq!(
            r.block_on(auth.check(Some(&bad), ip(1))),
            Verdict::Challenge
        );
        assert_eq!(r.block_on(auth.check(None, ip(1))), Verdict::Challenge);
        assert_eq!(hashed(&auth), 0);
    }

    #[test]
    fn right_password_allows_wrong_and_unknown_challenge() {
        let auth = alice();
        let r = rt();
        assert_eq!(
            r.block_on(auth.check(Some(&basic("alice:pa:ss")), ip(1))),
            Verdict::Allow
        );
        for wrong in [
            "alice:pa",
            "alice:pa:s",
            "alice:pa:ss ",
            "Alice:pa:ss",
            "bob:pa:ss",
            ":pa:ss",
        ] {
            assert_eq!(
                r.block_on(auth.check(Some(&basic(wrong)), ip(2))),
                Verdict::Challenge,
                "{wrong}"
            );
        }
    }

    #[test]
    fn the_challenge_names_the_realm() {
        assert_eq!(
            alice().challenge(),
            HeaderValue::from_static("Basic realm=\"staff\", charset=\"UTF-8\"")
        );
        let users = vec![("alice".to_string(), argon2_hash("pw", TEST_M_KIB, 1))];
        for (realm, c) in [
            ("a\"b", '"'),
            ("a\\b", '\\'),
            ("a\nb", '\n'),
            ("a\u{7f}", '\u{7f}'),
        ] {
            let err = Auth::new(AuthOptions {
                realm: realm.into(),
                users: users.clone(),
                ..AuthOptions::default()
            })
            .unwrap_err();
            assert_eq!(err, AuthError::Realm(c));
            assert!(err.to_string().starts_with("realm: "), "{err}");
        }
        let utf8 = Auth::new(AuthOptions {
            realm: "Büro".into(),
            users,
            ..AuthOptions::default()
        })
        .unwrap();
        assert_eq!(
            utf8.challenge().as_bytes(),
            "Basic realm=\"Büro\", charset=\"UTF-8\"".as_bytes()
        );
    }

    #[test]
    fn options_are_checked_naming_the_user_never_the_hash() {
        let good = argon2_hash("pw", TEST_M_KIB, 1);
        let new = |users: Vec<(&str, &str)>| {
            Auth::new(AuthOptions {
                users: users
                    .into_iter()
                    .map(|(u, h)| (u.to_string(), h.to_string()))
                    .collect(),
                ..AuthOptions::default()
            })
            .map(|_| ())
        };
        assert_eq!(new(vec![]), Err(AuthError::NoUsers));
        let argon2i = good.replacen("argon2id", "argon2i", 1);
        let v16 = good.replacen("v=19", "v=16", 1);
        let huge = "$argon2id$v=19$m=1048576,t=2,p=1$MDEyMzQ1Njc4OWFiY2RlZg$c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmU";
        let slow = "$argon2id$v=19$m=1024,t=100,p=1$MDEyMzQ1Njc4OWFiY2RlZg$c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmU";
        let truncated = &good[..good.len() - 20];
        let bcrypt_ok = bcrypt::hash("pw", 4).unwrap();
        let bcrypt_slow = bcrypt_ok.replacen("$04$", "$20$", 1);
        let bcrypt_2x = bcrypt_ok.replacen("$2b$", "$2x$", 1);
        let bcrypt_short = &bcrypt_ok[..50];
        let cost_x = bcrypt_ok.replacen("$04$", "$4$x", 1);
        let cost_dash = bcrypt_ok.replacen("$04$", "$04-", 1);
        let mut bad_char = bcrypt_ok.clone();
        bad_char.replace_range(10..11, "!");
        let cases: Vec<(&str, &str)> = vec![
            ("hunter2", "not an accepted hash"),
            (&argon2i, "argon2i is not accepted"),
            (&v16, "only v=19"),
            (huge, "memory cost m=1048576 KiB is over the limit"),
            (slow, "time cost t=100"),
            (truncated, "argon2id"),
            ("$argon2id$v=19$m=1024,t=1,p=1", "without a salt"),
            (&bcrypt_slow, "bcrypt cost 20 is outside"),
            (&bcrypt_2x, "$2x$"),
            (
                bcrypt_short,
                "bcrypt hash of 50 characters; bcrypt hashes have 60",
            ),
            (&cost_x, "two digits"),
            (&cost_dash, "without its cost"),
            (&bad_char, "malformed"),
            ("$apr1$xyz$abc", "Apache MD5"),
            ("{SHA}abc=", "SHA-1"),
        ];
        for (hash, needle) in cases {
            let err = new(vec![("alice", &good), ("bob", hash)]).unwrap_err();
            let text = err.to_string();
            assert!(text.starts_with("user \"bob\": hash: "), "{text}");
            assert!(text.contains(needle), "{needle:?} not in {text:?}");
            if hash.len() > 8 {
                assert!(!text.contains(hash), "the hash is in {text:?}");
            }
        }
        let refused = new(vec![("alice", "hunter2")]).unwrap_err().to_string();
        assert!(
            refused.contains("argon2id") && refused.contains("$2b$"),
            "{refused}"
        );
        for (user, needle) in [("", "empty"), ("a:b", "':'"), ("a\tb", "control")] {
            let text = new(vec![(user, &good)]).unwrap_err().to_string();
            assert!(text.contains(needle), "{text}");
        }
        let twice = new(vec![("alice", &good), ("alice", &good)]).unwrap_err();
        assert_eq!(twice.to_string(), "user \"alice\": given twice");
        let zero = Auth::new(AuthOptions {
            users: vec![("alice".into(), good.clone())],
            max_failures: 0,
            ..AuthOptions::default()
        });
        assert_eq!(zero.unwrap_err(), AuthError::Limit("max_failures"));
        let zero = Auth::new(AuthOptions {
            users: vec![("alice".into(), good.clone())],
            window: Duration::ZERO,
            ..AuthOptions::default()
        });
        assert_eq!(zero.unwrap_err(), AuthError::Limit("window"));
        assert_eq!(new(vec![("alice", &good), ("bob", &bcrypt_ok)]), Ok(()));
    }

    #[test]
    fn debug_never_prints_a_hash() {
        let hash = argon2_hash("pw", TEST_M_KIB, 1);
        let bhash = bcrypt::hash("pw", 4).unwrap();
        let options = AuthOptions {
            users: vec![
                ("alice".into(), hash.clone()),
                ("bob".into(), bhash.clone()),
            ],
            ..AuthOptions::default()
        };
        let auth = Auth::new(options.clone()).unwrap();
        for text in [
            format!("{options:?}"),
            format!("{auth:?}"),
            format!("{auth:#?}"),
        ] {
            assert!(text.contains("alice") && text.contains("bob"), "{text}");
            for secret in [
                &hash[..],
                &bhash[..],
                "$argon2",
                "$2b$",
                "MDEyMzQ1Njc4OWFiY2RlZg",
            ] {
                assert!(!text.contains(secret), "{secret} in {text}");
            }
        }
    }

    #[test]
    fn htpasswd_files() {
        let a = argon2_hash("pw", TEST_M_KIB, 1);
        let b = bcrypt::hash("pw", 4).unwrap();
        let text =
            format!("\u{feff}# staff\n\nalice:{a}\r\n  # indented comment\n  bob : {b}  \n\n");
        assert_eq!(
            parse_htpasswd(&text).unwrap(),
            vec![
                ("alice".to_string(), a.clone()),
                ("bob".to_string(), b.clone())
            ]
        );
        assert_eq!(parse_htpasswd("").unwrap(), vec![]);
        assert_eq!(parse_htpasswd("# only\n\n").unwrap(), vec![]);
        let err = |t: &str| parse_htpasswd(t).unwrap_err();
        assert_eq!(
            err(&format!("# x\nalice:{a}\nbob\n")),
            "line 3: expected user:hash"
        );
        let md5 = err("# x\n\nbob:$apr1$salt$hashhashhash\n");
        assert!(md5.starts_with("line 3: user \"bob\": Apache MD5"), "{md5}");
        assert!(
            md5.contains("accepted: argon2id") && md5.contains("bcrypt"),
            "{md5}"
        );
        assert!(!md5.contains("hashhashhash"), "{md5}");
        let plain = err("carol:letmein\n");
        assert!(
            plain.starts_with("line 1: user \"carol\": not an accepted hash"),
            "{plain}"
        );
        assert!(!plain.contains("letmein"), "{plain}");
        assert!(err(&format!("a:{a}\nb:{b}\na:{b}\n"))
            .contains("line 3: user \"a\" is already on line 1"));
        assert!(err(&format!(":{a}\n")).starts_with("line 1: an empty user name"));
        let argon2i = a.replacen("argon2id", "argon2i", 1);
        assert!(err(&format!("\nx:{argon2i}")).starts_with("line 2: user \"x\": argon2i"));
        // What it reads, Auth takes.
        assert!(Auth::new(AuthOptions {
            users: parse_htpasswd(&text).unwrap(),
            ..AuthOptions::default()
        })
        .is_ok());
    }

    #[test]
    fn a_verified_credential_is_cached_a_failed_one_never() {
        let auth = alice();
        let r = rt();
        let good = basic("alice:pa:ss");
        let wrong = basic("alice:nope");
        assert_eq!(auth.check_now(Some(&good), ip(1)), None);
        assert_eq!(
            r.block_on(auth.check(Some(&wrong), ip(1))),
            Verdict::Challenge
        );
        assert_eq!(
            auth.check_now(Some(&wrong), ip(1)),
            None,
            "a failure was cached"
        );
        assert_eq!(r.block_on(auth.check(Some(&good), ip(1))), Verdict::Allow);
        assert_eq!(hashed(&auth), 2);
        // Answered without hashing, from any address.
        assert_eq!(auth.check_now(Some(&good), ip(1)), Some(Verdict::Allow));
        assert_eq!(auth.check_now(Some(&good), ip(9)), Some(Verdict::Allow));
        assert_eq!(r.block_on(auth.check(Some(&good), ip(1))), Verdict::Allow);
        assert_eq!(hashed(&auth), 2);
        // Keyed by the whole credential.
        assert_eq!(auth.check_now(Some(&basic("alice:pa:s")), ip(1)), None);
        assert_eq!(auth.check_now(Some(&basic("alice:pa:ss:")), ip(1)), None);
        // The cache holds keyed hashes, not passwords.
        let cache = lock(&auth.inner.cache);
        assert_eq!(cache.len(), 1);
        assert!(!cache.keys().any(|k| k.windows(5).any(|w| w == b"pa:ss")));
        drop(cache);
        // Until it expires.
        let later = Instant::now() + CACHE_TTL + Duration::from_secs(1);
        assert_eq!(now_at(&auth, &good, ip(1), later), None);
        assert_eq!(lock(&auth.inner.cache).len(), 0);
    }

    #[test]
    fn the_cache_is_bounded() {
        let auth = alice();
        let now = Instant::now();
        for i in 0..CACHE_CAPACITY + 10 {
            let mut tag = [0; 32];
            tag[..8].copy_from_slice(&(i as u64).to_be_bytes());
            auth.inner
                .remember(tag, now + Duration::from_millis(i as u64));
        }
        let cache = lock(&auth.inner.cache);
        assert_eq!(cache.len(), CACHE_CAPACITY);
        // The oldest went.
        assert!(!cache.contains_key(&[0; 32]));
        let mut newest = [0; 32];
        newest[..8].copy_from_slice(&((CACHE_CAPACITY + 9) as u64).to_be_bytes());
        assert!(cache.contains_key(&newest));
    }

    #[test]
    fn the_eleventh_attempt_is_limited_before_hashing() {
        let auth = alice();
        let r = rt();
        let wrong = basic("alice:guess");
        let good = basic("alice:pa:ss");
        for i in 0..10 {
            assert_eq!(
                r.block_on(auth.check(Some(&wrong), ip(1))),
                Verdict::Challenge,
                "try {i}"
            );
        }
        assert_eq!(hashed(&auth), 10);
        let limited = r.block_on(auth.check(Some(&wrong), ip(1)));
        let Verdict::Limited { retry_after } = limited else {
            panic!("{limited:?}");
        };
        assert!((1..=60).contains(&retry_after), "{retry_after}");
        // Even the right password, and without hashing.
        assert!(matches!(
            r.block_on(auth.check(Some(&good), ip(1))),
            Verdict::Limited { .. }
        ));
        assert!(matches!(
            auth.check_now(Some(&wrong), ip(1)),
            Some(Verdict::Limited { .. })
        ));
        assert_eq!(hashed(&auth), 10);
        // Other addresses are not affected.
        assert_eq!(auth.check_now(Some(&wrong), ip(2)), None);
        assert_eq!(r.block_on(auth.check(Some(&good), ip(2))), Verdict::Allow);
        // A limited address does not get the cache either (no free guesses).
        assert!(matches!(
            auth.check_now(Some(&good), ip(1)),
            Some(Verdict::Limited { .. })
        ));
        // The window ends.
        let start = lock(&auth.inner.failures)[&ip(1)].start;
        let end = start + Duration::from_secs(60);
        assert!(matches!(
            now_at(&auth, &wrong, ip(1), end - Duration::from_millis(1)),
            Some(Verdict::Limited { retry_after: 1 })
        ));
        assert_eq!(now_at(&auth, &wrong, ip(1), end), None);
        assert_eq!(now_at(&auth, &good, ip(1), end), Some(Verdict::Allow));
    }

    #[test]
    fn a_new_window_counts_afresh() {
        let auth = alice();
        let t0 = Instant::now();
        for _ in 0..10 {
            assert!(auth.inner.reserve(ip(1), t0).is_ok());
        }
        assert_eq!(
            auth.inner
                .reserve(ip(1), t0 + Duration::from_millis(59_500)),
            Err(Verdict::Limited { retry_after: 1 })
        );
        let t1 = t0 + Duration::from_secs(60);
        assert_eq!(auth.inner.reserve(ip(1), t1), Ok(t1));
        assert_eq!(lock(&auth.inner.failures)[&ip(1)].failures, 1);
        // A success refunds its reservation, in its own window only.
        auth.inner.refund(ip(1), t0);
        assert_eq!(lock(&auth.inner.failures)[&ip(1)].failures, 1);
        auth.inner.refund(ip(1), t1);
        assert_eq!(lock(&auth.inner.failures)[&ip(1)].failures, 0);
    }

    #[test]
    fn mapped_ipv4_counts_as_ipv4_and_ipv6_by_its_64() {
        let v4 = ip(7);
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(client_key(mapped), v4);
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(c));
        let auth = auth_with(&[("alice", argon2_hash("pw", TEST_M_KIB, 1))], 2);
        let r = rt();
        let wrong = basic("alice:x");
        r.block_on(auth.check(Some(&wrong), v4));
        r.block_on(auth.check(Some(&wrong), mapped));
        assert!(matches!(
            auth.check_now(Some(&wrong), v4),
            Some(Verdict::Limited { .. })
        ));
        r.block_on(auth.check(Some(&wrong), a));
        r.block_on(auth.check(Some(&wrong), b));
        assert!(matches!(
            auth.check_now(Some(&wrong), a),
            Some(Verdict::Limited { .. })
        ));
        assert_eq!(auth.check_now(Some(&wrong), c), None);
    }

    #[test]
    fn parallel_guesses_get_no_more_hashes_than_the_limit() {
        let auth = auth_with(&[("alice", argon2_hash("pw", TEST_M_KIB, 1))], 3);
        let r = rt();
        let verdicts = r.block_on(async {
            let tasks: Vec<_> = (0..20)
                .map(|i| {
                    let auth = auth.clone();
                    tokio::spawn(async move {
                        auth.check(Some(&basic(&format!("alice:guess{i}"))), ip(1))
                            .await
                    })
                })
                .collect();
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.unwrap());
            }
            out
        });
        assert_eq!(hashed(&auth), 3);
        assert_eq!(
            verdicts
                .iter()
                .filter(|v| **v == Verdict::Challenge)
                .count(),
            3
        );
        assert_eq!(
            verdicts
                .iter()
                .filter(|v| matches!(v, Verdict::Limited { .. }))
                .count(),
            17
        );
    }

    #[test]
    fn the_failure_table_is_bounded() {
        let auth = alice();
        let t0 = Instant::now();
        let n = MAX_TRACKED_CLIENTS + 10;
        for i in 0..n {
            let client = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i as u32));
            let _ = auth
                .inner
                .reserve(client, t0 + Duration::from_micros(i as u64));
        }
        let failures = lock(&auth.inner.failures);
        assert_eq!(failures.len(), MAX_TRACKED_CLIENTS);
        assert!(!failures.contains_key(&IpAddr::V4(Ipv4Addr::from(0x0a00_0000))));
        assert!(failures.contains_key(&IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n as u32 - 1))));
    }

    #[test]
    fn bcrypt_refuses_72_bytes_or_more_never_truncating() {
        let a72 = "a".repeat(72);
        let a71 = "a".repeat(71);
        // A hash of the first 72 bytes, as other tools make them.
        let long = bcrypt::hash(&a72, 4).unwrap();
        let short = bcrypt::hash(&a71, 4).unwrap();
        let auth = auth_with(&[("long", long), ("short", short)], 100);
        let r = rt();
        let check = |cred: String| r.block_on(auth.check(Some(&basic(&cred)), ip(1)));
        // bcrypt alone would accept both: it ignores bytes past 72.
        assert_eq!(check(format!("long:{a72}X")), Verdict::Challenge);
        assert_eq!(check(format!("long:{a72}Y")), Verdict::Challenge);
        assert_eq!(check(format!("long:{a72}")), Verdict::Challenge);
        assert_eq!(check(format!("short:{a71}X")), Verdict::Challenge);
        assert_eq!(check(format!("short:{a71}")), Verdict::Allow);
        assert_eq!(
            check(format!("short:{a71}").replacen('a', "b", 1)),
            Verdict::Challenge
        );
        // Multi-byte characters count in bytes: 36 × 'é' is 72 bytes.
        let e36 = "é".repeat(36);
        let auth = auth_with(&[("e", bcrypt::hash(&e36, 4).unwrap())], 100);
        let got = r.block_on(auth.check(Some(&basic(&format!("e:{e36}"))), ip(1)));
        assert_eq!(got, Verdict::Challenge);
    }

    #[test]
    fn bcrypt_users_get_a_bcrypt_dummy_of_the_same_cost() {
        let auth = auth_with(&[("b", bcrypt::hash("pw", 5).unwrap())], 100);
        match &auth.inner.dummy {
            Hash::Bcrypt { text, cost } => {
                assert_eq!(*cost, 5);
                assert!(text.starts_with("$2b$05$") && text.len() == 60, "bad dummy");
                assert!(parse_bcrypt(text).is_ok());
            }
            Hash::Argon2 { .. } => panic!("argon2 dummy for bcrypt users"),
        }
        let r = rt();
        assert_eq!(
            r.block_on(auth.check(Some(&basic("b:pw")), ip(1))),
            Verdict::Allow
        );
        assert_eq!(
            r.block_on(auth.check(Some(&basic("x:pw")), ip(1))),
            Verdict::Challenge
        );
    }

    #[test]
    fn the_argon2_dummy_copies_the_first_users_parameters() {
        let auth = auth_with(
            &[
                ("a", argon2_hash("pw", 2048, 3)),
                ("b", argon2_hash("pw", 1024, 1)),
            ],
            10,
        );
        let (
            Hash::Argon2 {
                params: d,
                salt: ds,
                expected: de,
                ..
            },
            Some(User {
                hash:
                    Hash::Argon2 {
                        params: u,
                        salt: us,
                        expected: ue,
                        ..
                    },
                ..
            }),
        ) = (&auth.inner.dummy, auth.inner.users.first())
        else {
            panic!("not argon2");
        };
        assert_eq!((d.m_cost(), d.t_cost(), d.p_cost()), (2048, 3, 1));
        assert_eq!(
            (d.m_cost(), d.t_cost(), d.p_cost(), d.output_len()),
            (u.m_cost(), u.t_cost(), u.p_cost(), u.output_len())
        );
        assert_eq!((ds.len(), de.len()), (us.len(), ue.len()));
        assert_ne!(ds, us);
    }

    /// The time of an unknown user and of a known user's wrong password are
    /// alike (static-web-server's 2026 fix): medians of interleaved tries.
    #[test]
    fn unknown_users_take_as_long_as_wrong_passwords() {
        const TRIES: usize = 15;
        let auth = auth_with(&[("alice", argon2_hash("right", 8192, 2))], 1000);
        let r = rt();
        let time = |cred: &str| {
            let h = basic(cred);
            let start = Instant::now();
            let v = r.block_on(auth.check(Some(&h), ip(1)));
            assert_eq!(v, Verdict::Challenge);
            start.elapsed()
        };
        time("warm:up");
        let (mut unknown, mut wrong) = (Vec::new(), Vec::new());
        for i in 0..TRIES {
            unknown.push(time(&format!("mallory{i}:guess{i}")));
            wrong.push(time(&format!("alice:guess{i}")));
        }
        // The fastest of each: other work on the machine only ever adds time,
        // so the minimums compare the hashing itself (medians flaked on a
        // busy CI machine).
        let u = unknown.iter().min().copied().unwrap_or_default();
        let w = wrong.iter().min().copied().unwrap_or_default();
        let ratio = u.as_secs_f64() / w.as_secs_f64();
        assert!(
            (1.0 / 1.5..=1.5).contains(&ratio),
            "unknown user {u:?}, wrong password {w:?}"
        );
        // And both did hash.
        assert!(w > Duration::from_micros(500), "{w:?}");
    }

    #[test]
    fn concurrent_hashes_are_bounded() {
        let auth = auth_with(&[("alice", argon2_hash("pw", TEST_M_KIB, 1))], 100);
        let r = rt();
        const TASKS: u8 = 24;
        let verdicts = r.block_on(async {
            let tasks: Vec<_> = (0..TASKS)
                .map(|i| {
                    let auth = auth.clone();
                    tokio::spawn(
                        async move { auth.check(Some(&basic("alice:wrong")), ip(i)).await },
                    )
                })
                .collect();
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.unwrap());
            }
            out
        });
        // Past the bound they waited: none was refused.
        assert!(verdicts.iter().all(|v| *v == Verdict::Challenge));
        assert_eq!(hashed(&auth), usize::from(TASKS));
        let peak = auth.inner.peak.load(SeqCst);
        assert!(
            peak >= 1 && peak <= auth.inner.permits,
            "peak {peak} of {}",
            auth.inner.permits
        );
        assert!(auth.inner.permits <= MAX_CONCURRENT_HASHES);
    }

    #[test]
    fn the_check_future_is_send() {
        fn send<T: Send>(_: T) {}
        let auth = alice();
        let h = basic("alice:x");
        send(auth.check(Some(&h), ip(1)));
    }

    #[test]
    fn hash_password_makes_argon2id_with_default_parameters() {
        let hash = hash_password(b"correct horse").unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert_ne!(
            hash,
            hash_password(b"correct horse").unwrap(),
            "salt not random"
        );
        assert!(hash_password(b"").is_err());
        let auth = auth_with(&[("alice", hash)], 10);
        let r = rt();
        let ok = r.block_on(auth.check(Some(&basic("alice:correct horse")), ip(1)));
        assert_eq!(ok, Verdict::Allow);
    }
}
