//! Password hashing: argon2id with OWASP parameters; imported bcrypt hashes verify and
//! are flagged for re-hashing.

use argon2::password_hash::{Output, PasswordHash, PasswordHasher as _, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::rngs::OsRng;
use std::cell::RefCell;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use tokio::sync::{Semaphore, oneshot};

use crate::error::{AppError, AppResult, FieldError};

pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_CHARS: usize = 128;

/// One of OWASP's argon2id settings, which it rates as equally strong: 7 MiB of memory,
/// 5 iterations, 1 lane. Of them it takes the least memory per sign-in, and here also the
/// least CPU (14.8 ms against 17.3 ms for 19 MiB and 2 iterations). Hashes stored with
/// other settings still verify, and are replaced at the next sign-in.
const MEMORY_KIB: u32 = 7 * 1024;
const ITERATIONS: u32 = 5;
const LANES: u32 = 1;

/// A few of the most used passwords that pass the length rule.
const COMMON_PASSWORDS: &[&str] = &[
    "password",
    "password1",
    "12345678",
    "123456789",
    "1234567890",
    "qwertyuiop",
    "qwerty123",
    "11111111",
    "iloveyou",
    "sunshine",
    "princess",
    "football",
    "baseball",
    "welcome1",
    "abc12345",
    "00000000",
    "87654321",
    "passw0rd",
    "superman",
    "йцукенгш",
];

/// How a stored password was hashed (`user_credentials.password_encryption`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordScheme {
    Argon2id,
    Bcrypt,
    None,
}

impl PasswordScheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Argon2id => "argon2id",
            Self::Bcrypt => "bcrypt",
            Self::None => "none",
        }
    }

    pub fn parse(value: &str) -> Self {
        match value {
            "argon2id" => Self::Argon2id,
            "bcrypt" => Self::Bcrypt,
            _ => Self::None,
        }
    }
}

/// The outcome of checking a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    No,
    Yes,
    /// Correct, but stored with an older scheme or other argon2id settings: store a fresh
    /// hash.
    YesNeedsRehash,
}

impl Verified {
    pub fn is_ok(self) -> bool {
        self != Verified::No
    }
}

#[derive(Clone)]
pub struct Passwords {
    argon2: Argon2<'static>,
    /// Verified against when the account is unknown, so both cases take as long.
    dummy_hash: String,
    threads: HashThreads,
}

/// How much lower than the rest of the server the hashing threads run (added to the nice
/// value). Under full load a sign-in then waits for CPU time instead of taking it from
/// every other request: a hashing thread gets about a seventh of a core that two busy
/// request threads share, about ten sign-ins a second on two cores (a hash is ~20 ms of
/// CPU). With CPU to spare, hashes run as fast as before.
const HASHING_NICENESS: libc::c_int = 5;

const MAX_NICENESS: libc::c_int = 19;

type Job = Box<dyn FnOnce() + Send>;

/// Threads of their own for password hashing, one per core, at a lower CPU priority.
/// They end when the last `Passwords` is dropped.
#[derive(Clone)]
struct HashThreads {
    jobs: mpsc::Sender<Job>,
    /// One hash per thread at a time: each takes 7 MiB, so a burst of sign-ins cannot
    /// exhaust memory, and waiting requests queue here instead of in the job channel.
    permits: Arc<Semaphore>,
}

impl HashThreads {
    fn start(count: usize) -> anyhow::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for index in 0..count {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("password-hash-{index}"))
                .spawn(move || {
                    lower_this_threads_priority();
                    loop {
                        let job = queue
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .recv();
                        match job {
                            Ok(job) => job(),
                            Err(mpsc::RecvError) => break,
                        }
                    }
                })?;
        }
        Ok(Self {
            jobs,
            permits: Arc::new(Semaphore::new(count)),
        })
    }

    /// Runs `work` on a hashing thread, once one is free, and waits for its result.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> AppResult<T> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(AppError::internal)?;
        let (done, result) = oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                // held until the work is done, even if the request is dropped meanwhile
                let _permit = permit;
                // the request may be gone by now: its result is then dropped
                let _ = done.send(work());
            }))
            .map_err(|_| AppError::internal(anyhow::anyhow!("the hashing threads are gone")))?;
        result
            .await
            .map_err(|_| AppError::internal(anyhow::anyhow!("a password hash did not finish")))
    }
}

fn lower_this_threads_priority() {
    // SAFETY: with PRIO_PROCESS and 0, getpriority and setpriority read and change the
    // calling thread's nice value on Linux; they take no pointers. Raising a nice value
    // needs no privilege.
    let status = unsafe {
        let inherited = libc::getpriority(libc::PRIO_PROCESS, 0);
        libc::setpriority(
            libc::PRIO_PROCESS,
            0,
            (inherited + HASHING_NICENESS).min(MAX_NICENESS),
        )
    };
    if status != 0 {
        tracing::warn!(
            error = %std::io::Error::last_os_error(),
            "password hashing runs at the server's own priority"
        );
    }
}

impl Passwords {
    pub fn new() -> anyhow::Result<Self> {
        let params = Params::new(MEMORY_KIB, ITERATIONS, LANES, None)
            .map_err(|err| anyhow::anyhow!("argon2 parameters: {err}"))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let salt = SaltString::generate(&mut OsRng);
        let dummy_hash = argon2
            .hash_password(b"vitrine-dummy-password", &salt)
            .map_err(|err| anyhow::anyhow!("hashing the dummy password: {err}"))?
            .to_string();
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Self {
            argon2,
            dummy_hash,
            threads: HashThreads::start(cores)?,
        })
    }

    /// Hashes on a hashing thread: argon2id is deliberately slow.
    pub async fn hash(&self, password: &str) -> AppResult<String> {
        let argon2 = self.argon2.clone();
        let password = password.to_owned();
        self.threads
            .run(move || {
                let salt = SaltString::generate(&mut OsRng);
                let hash = argon2
                    .hash_password(password.as_bytes(), &salt)
                    .map(|hash| hash.to_string())
                    .map_err(|err| {
                        AppError::internal(anyhow::anyhow!("hashing a password: {err}"))
                    });
                release_hash_memory();
                hash
            })
            .await?
    }

    /// Checks `password` against a stored hash; with no hash it still spends the time
    /// of one argon2id verification, so unknown accounts cannot be told apart by timing.
    pub async fn verify(
        &self,
        password: &str,
        stored: Option<(&str, PasswordScheme)>,
    ) -> AppResult<Verified> {
        let password = password.to_owned();
        let (hash, scheme, real) = match stored {
            Some((hash, scheme)) if scheme != PasswordScheme::None => {
                (hash.to_owned(), scheme, true)
            }
            _ => (self.dummy_hash.clone(), PasswordScheme::Argon2id, false),
        };
        self.threads
            .run(move || {
                // counted by scheme only: whether the account exists must not show here either
                metrics::counter!("password_verifications_total", "scheme" => scheme.as_str())
                    .increment(1);
                let (matches, current) = match scheme {
                    PasswordScheme::Argon2id => match PasswordHash::new(&hash) {
                        Ok(parsed) => {
                            let current = hashed_as_now(&parsed);
                            (
                                argon2_matches(password.as_bytes(), &parsed, current),
                                current,
                            )
                        }
                        Err(_) => (false, false),
                    },
                    PasswordScheme::Bcrypt => (
                        bcrypt::verify(password.as_bytes(), &hash).unwrap_or(false),
                        false,
                    ),
                    PasswordScheme::None => (false, false),
                };
                match (real && matches, current) {
                    (false, _) => Verified::No,
                    (true, true) => Verified::Yes,
                    (true, false) => Verified::YesNeedsRehash,
                }
            })
            .await
    }
}

/// A hash's memory is freed on a hashing thread that may then sit idle, and mimalloc
/// would keep those pages until the thread allocates again: hand them back at once.
fn release_hash_memory() {
    crate::allocator::release_free_memory();
}

thread_local! {
    /// The argon2id memory of a hashing thread, kept from one verification to the next:
    /// allocating, zeroing and handing back 7 MiB for each sign-in took about a sixth of
    /// its CPU (page faults). Only the current settings' size is kept.
    static HASH_MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Whether `password` hashes to the argon2 hash `parsed` (compared in constant time).
/// `hashed_as_now`: the hash has today's settings, so the thread's kept memory fits it.
fn argon2_matches(password: &[u8], parsed: &PasswordHash<'_>, hashed_as_now: bool) -> bool {
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let Ok(params) = Params::try_from(parsed) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let Ok(version) = parsed
        .version
        .map_or(Ok(Version::default()), Version::try_from)
    else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let blocks = params.block_count();
    let argon2 = Argon2::new(algorithm, version, params);
    let computed = |memory: &mut [Block]| {
        Output::init_with(expected.len(), |out| {
            argon2
                .hash_password_into_with_memory(password, salt, out, &mut *memory)
                .map_err(|_| argon2::password_hash::Error::Password)
        })
    };
    let output = if hashed_as_now {
        HASH_MEMORY.with_borrow_mut(|memory| {
            memory.resize(blocks, Block::default());
            computed(memory)
        })
    } else {
        let output = computed(&mut vec![Block::default(); blocks]);
        release_hash_memory();
        output
    };
    // `Output`'s equality takes the same time wherever the bytes differ
    output.is_ok_and(|output| output == expected)
}

/// Whether an argon2id hash was made with today's algorithm, version and settings.
fn hashed_as_now(parsed: &PasswordHash<'_>) -> bool {
    parsed.algorithm == Algorithm::Argon2id.ident()
        && parsed.version == Some(Version::V0x13.into())
        && Params::try_from(parsed).is_ok_and(|params| {
            (params.m_cost(), params.t_cost(), params.p_cost()) == (MEMORY_KIB, ITERATIONS, LANES)
        })
}

/// The rules for a new password; `field` names it in the error.
pub fn check_new_password(
    field: &str,
    password: &str,
    username: &str,
    email: &str,
) -> Result<(), FieldError> {
    let chars = password.chars().count();
    let lowered = password.to_lowercase();
    let problem = if chars < MIN_PASSWORD_CHARS {
        Some(format!(
            "must be at least {MIN_PASSWORD_CHARS} characters long"
        ))
    } else if chars > MAX_PASSWORD_CHARS {
        Some(format!(
            "must be at most {MAX_PASSWORD_CHARS} characters long"
        ))
    } else if password.trim().is_empty() {
        Some("must not be blank".to_owned())
    } else if COMMON_PASSWORDS.contains(&lowered.as_str()) {
        Some("is too common".to_owned())
    } else if lowered == username.to_lowercase() || lowered == email.to_lowercase() {
        Some("must differ from the username and email".to_owned())
    } else {
        None
    };
    match problem {
        Some(message) => Err(FieldError::new(field, message)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_rules() {
        assert!(check_new_password("password", "short", "ann", "a@b.c").is_err());
        assert!(check_new_password("password", &"x".repeat(129), "ann", "a@b.c").is_err());
        assert!(check_new_password("password", &"x".repeat(128), "ann", "a@b.c").is_ok());
        assert!(check_new_password("password", "Password1", "ann", "a@b.c").is_err());
        assert!(check_new_password("password", "collector-77", "Collector-77", "a@b.c").is_err());
        assert!(check_new_password("password", "        ", "ann", "a@b.c").is_err());
        // length counts characters, not bytes
        assert!(check_new_password("password", "пароль12", "ann", "a@b.c").is_ok());
        assert!(check_new_password("password", "correct horse", "ann", "a@b.c").is_ok());
    }

    #[tokio::test]
    async fn argon2_round_trip_and_bcrypt_rehash() {
        let passwords = Passwords::new().unwrap();
        let hash = passwords.hash("correct horse").await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=7168,t=5,p=1$"));
        let stored = Some((hash.as_str(), PasswordScheme::Argon2id));
        assert_eq!(
            passwords.verify("correct horse", stored).await.unwrap(),
            Verified::Yes
        );
        assert_eq!(
            passwords.verify("wrong horse", stored).await.unwrap(),
            Verified::No
        );

        let bcrypt_hash = bcrypt::hash("legacy-pass", 4).unwrap();
        let stored = Some((bcrypt_hash.as_str(), PasswordScheme::Bcrypt));
        assert_eq!(
            passwords.verify("legacy-pass", stored).await.unwrap(),
            Verified::YesNeedsRehash
        );
        assert_eq!(
            passwords.verify("legacy-pasS", stored).await.unwrap(),
            Verified::No
        );
    }

    #[test]
    fn verifications_on_one_thread_share_its_memory_and_still_tell_passwords_apart() {
        let argon2 = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(MEMORY_KIB, ITERATIONS, LANES, None).unwrap(),
        );
        let salt = SaltString::generate(&mut OsRng);
        let hash = argon2.hash_password(b"first", &salt).unwrap().to_string();
        let parsed = PasswordHash::new(&hash).unwrap();
        let smaller = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(1024, 1, 1, None).unwrap(),
        )
        .hash_password(b"second", &salt)
        .unwrap()
        .to_string();
        let smaller = PasswordHash::new(&smaller).unwrap();
        // the same thread, one after the other: what a verification leaves behind in the
        // kept memory must not change the next one's result
        for _ in 0..2 {
            assert!(argon2_matches(b"first", &parsed, true));
            assert!(!argon2_matches(b"second", &parsed, true));
            assert!(argon2_matches(b"second", &smaller, false));
            assert!(!argon2_matches(b"first", &smaller, false));
        }
        // one character of the output changed (not the last, whose spare bits must be zero)
        let mut altered = hash.clone().into_bytes();
        let at = altered.len() - 10;
        altered[at] = if altered[at] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).unwrap();
        assert!(!argon2_matches(
            b"first",
            &PasswordHash::new(&altered).unwrap(),
            true
        ));
        let without_output = hash.rsplit_once('$').unwrap().0;
        assert!(!argon2_matches(
            b"first",
            &PasswordHash::new(without_output).unwrap(),
            true
        ));
    }

    #[tokio::test]
    async fn hashes_with_other_argon2_settings_verify_and_ask_for_a_new_hash() {
        let passwords = Passwords::new().unwrap();
        let earlier = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(19 * 1024, 2, 1, None).unwrap(),
        );
        let salt = SaltString::generate(&mut OsRng);
        let hash = earlier
            .hash_password(b"correct horse", &salt)
            .unwrap()
            .to_string();
        let stored = Some((hash.as_str(), PasswordScheme::Argon2id));
        assert_eq!(
            passwords.verify("correct horse", stored).await.unwrap(),
            Verified::YesNeedsRehash
        );
        assert_eq!(
            passwords.verify("wrong horse", stored).await.unwrap(),
            Verified::No
        );
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, Params::default())
            .hash_password(b"correct horse", &salt)
            .unwrap()
            .to_string();
        let stored = Some((argon2i.as_str(), PasswordScheme::Argon2id));
        assert_eq!(
            passwords.verify("correct horse", stored).await.unwrap(),
            Verified::YesNeedsRehash
        );
    }

    #[tokio::test]
    async fn hashing_runs_on_its_own_threads_below_the_servers_priority() {
        fn nice() -> libc::c_int {
            // SAFETY: reads the calling thread's nice value.
            unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }
        }
        let passwords = Passwords::new().unwrap();
        let own = nice();
        let (name, hashing) = passwords
            .threads
            .run(|| (std::thread::current().name().map(str::to_owned), nice()))
            .await
            .unwrap();
        assert!(name.unwrap().starts_with("password-hash-"));
        assert_eq!(hashing, (own + HASHING_NICENESS).min(MAX_NICENESS));
        assert_eq!(nice(), own, "the caller's priority is left alone");
    }

    #[tokio::test]
    async fn unknown_accounts_never_verify() {
        let passwords = Passwords::new().unwrap();
        assert_eq!(
            passwords
                .verify("vitrine-dummy-password", None)
                .await
                .unwrap(),
            Verified::No
        );
        assert_eq!(
            passwords
                .verify("anything", Some(("", PasswordScheme::None)))
                .await
                .unwrap(),
            Verified::No
        );
    }
}
