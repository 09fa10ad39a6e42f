//! Password hashing with argon2id, off the async worker threads.

use std::sync::{Arc, LazyLock};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::{AppError, AppResult};

/// Fewest characters a password may have.
pub const MIN_LEN: usize = 10;
/// Most characters a password may have: longer ones are refused so that nobody can make the
/// server hash megabytes (hash flooding).
pub const MAX_LEN: usize = 256;

/// OWASP's recommended argon2id parameters (Password Storage Cheat Sheet): 19 MiB of
/// memory, 2 iterations, 1 degree of parallelism.
fn argon2() -> Argon2<'static> {
    let params =
        Params::new(19 * 1024, 2, 1, None).expect("BUG: constant argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A job for the hashing threads.
type Job = Box<dyn FnOnce() + Send + 'static>;

/// The hashing pool: a few dedicated OS threads (half the cores, at least one, at nice 10),
/// never the async workers. A login storm queues here instead of taking every core from the requests
/// that serve pages. Dedicated threads rather than tokio's blocking pool also bound memory:
/// each hash needs 19 MiB, and the allocator keeps what a thread freed for that thread, so
/// hashing on whichever of the blocking pool's many threads is free would leave 19 MiB
/// behind on each of them.
static HASHING: LazyLock<std::sync::mpsc::Sender<Job>> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let (sender, receiver) = std::sync::mpsc::channel::<Job>();
    let receiver = Arc::new(std::sync::Mutex::new(receiver));
    for n in 0..(cores / 2).max(1) {
        let receiver = receiver.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("zouqin-argon2-{n}"))
            .spawn(move || {
                // Nice 10: when the cores are busy, serving pages comes before hashing; an
                // idle machine still hashes at full speed.
                let below_normal = thread_priority::ThreadPriorityValue::try_from(22u8)
                    .map(thread_priority::ThreadPriority::Crossplatform);
                match below_normal {
                    Ok(priority) => {
                        if let Err(e) = thread_priority::set_current_thread_priority(priority) {
                            tracing::warn!(error = ?e, "cannot lower the hashing thread's priority");
                        }
                    }
                    Err(e) => tracing::warn!(error = ?e, "bad hashing thread priority"),
                }
                loop {
                    let job = match receiver.lock() {
                        Ok(receiver) => receiver.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start a hashing thread");
        }
    }
    sender
});

/// A hash of a random password, verified when the email is unknown so that an unknown
/// email costs the same time as a wrong password.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let salt = SaltString::encode_b64(b"zouqin-dummy-salt").expect("BUG: constant salt is valid");
    argon2()
        .hash_password(crate::auth::random_token(24).as_bytes(), &salt)
        .expect("BUG: hashing a constant-length password succeeds")
        .to_string()
});

/// Checks a new password's length; `field` names the input field for the error.
pub fn validate(password: &str, field: &str) -> AppResult<()> {
    let len = password.chars().count();
    if len < MIN_LEN {
        return Err(AppError::bad_input(
            field,
            format!("the password must have at least {MIN_LEN} characters"),
        ));
    }
    if len > MAX_LEN {
        return Err(AppError::bad_input(
            field,
            format!("the password must have at most {MAX_LEN} characters"),
        ));
    }
    Ok(())
}

/// Runs `work` on the hashing pool and waits for it without blocking the async threads.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> AppResult<T> {
    let (done, result) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = done.send(work());
    });
    // The queue is unbounded but holds only closures; waiting requests are bounded by the
    // request timeout and the per-IP and per-account limits in front of it.
    HASHING
        .send(job)
        .map_err(|_| AppError::Internal("the hashing pool has stopped".to_owned()))?;
    result
        .await
        .map_err(|_| AppError::Internal("a hashing job was dropped".to_owned()))
}

/// Hashes a password into a PHC string.
pub async fn hash(password: String) -> AppResult<String> {
    blocking(move || {
        let mut salt = [0u8; 16];
        rand::fill(&mut salt);
        let salt =
            SaltString::encode_b64(&salt).map_err(|e| AppError::Internal(format!("salt: {e}")))?;
        argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| AppError::Internal(format!("hash: {e}")))
    })
    .await?
}

/// Verifies a password against a PHC string, or against the dummy hash when `phc` is None.
pub async fn verify(password: String, phc: Option<String>) -> AppResult<bool> {
    blocking(move || {
        let known = phc.is_some();
        let phc = phc.unwrap_or_else(|| DUMMY_HASH.clone());
        let Ok(parsed) = PasswordHash::new(&phc) else {
            return false;
        };
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        known && matches
    })
    .await
}

/// Computes the dummy hash ahead of the first login, so it never costs a request.
pub fn warm_up() {
    LazyLock::force(&DUMMY_HASH);
}
