//! A Proof-of-GPU round: every selected miner is tested once, a bounded number at a time, each
//! attempt bounded in time and retried after a pause up to the configured limit, and every
//! final result recorded (and saved) as soon as it is known.
//!
//! One attempt (`sn27-protocol.md` §6.1): a fresh RSA key; the availability check when the
//! profile asks for it; the test allocation; the credentials opened; SSH to the axon's address
//! at the credentials' port, pinning the host key the miner sent (or recording the one shown
//! and reporting a change since the last round); [`super::proof_of_gpu::run`]; the health
//! check of the miner's user ports when it is on ([`super::health_check`], not retried); and
//! the release. The container is released whatever happens — after a failure, a timeout, or the
//! attempt being dropped (shutdown): an [`Allocation`] that goes out of scope unreleased
//! releases itself on a task of its own. A miner that will not release fails the test.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, Semaphore};
use tokio::task::JoinSet;
use zeroize::Zeroizing;

use super::health_check;
use super::proof_of_gpu::{self, PogSettings, Verified};
use super::renting::{self, RentRequest, Rental};
use super::selection::Candidate;
use super::state::{Spec, StateFile, TestResult, ValidatorState};
use crate::dendrite::{Dendrite, Target};
use crate::protocol::credentials::RentalKey;
use crate::protocol::DeviceRequirement;
use crate::service::Shutdown;
use crate::ssh::{HostKeyPolicy, Login, Session};

/// Attempts at releasing a test container, and the pause between them (the reference's).
const RELEASE_ATTEMPTS: usize = 3;
const RELEASE_PAUSE: Duration = Duration::from_secs(5);
/// SSH login limit (the reference's paramiko timeout).
const SSH_CONNECT: Duration = Duration::from_secs(10);

/// What a round needs besides the miners.
pub struct RoundContext {
    pub dendrite: Arc<Dendrite>,
    pub settings: PogSettings,
    /// `docker_requirement.base_image` of the test allocation.
    pub base_image: String,
    pub check_availability: bool,
    pub attempt_timeout: Duration,
    pub retry_limit: u32,
    pub retry_interval: Duration,
    pub concurrency: usize,
    /// Results kept per miner.
    pub keep: usize,
    /// Check the miner's user ports after a passing test (`sn27-v2.md` §4.5).
    pub health_check: bool,
    pub metrics: Arc<crate::service::metrics::Metrics>,
}

/// How one miner's test ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Passed(Verified),
    /// The step that failed, then why; tried again after a pause, up to the retry limit.
    Failed(String),
    /// Passed the test but not the health check of its user ports: not tried again this
    /// round, as v2.1+ validators rule.
    Unhealthy(String),
}

impl Outcome {
    fn failure(&self) -> Option<&str> {
        match self {
            Outcome::Passed(_) => None,
            Outcome::Failed(reason) | Outcome::Unhealthy(reason) => Some(reason),
        }
    }
}

/// A test container allocated on a miner, released exactly once.
struct Allocation {
    dendrite: Arc<Dendrite>,
    rental: Option<Rental>,
}

impl Allocation {
    /// Releases it, trying a few times; `false` when the miner never acknowledged.
    async fn release(mut self) -> bool {
        match self.rental.take() {
            Some(rental) => release_with_retries(&self.dendrite, &rental).await,
            None => true,
        }
    }
}

impl Drop for Allocation {
    fn drop(&mut self) {
        if let Some(rental) = self.rental.take() {
            let dendrite = self.dendrite.clone();
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    runtime.spawn(async move {
                        release_with_retries(&dendrite, &rental).await;
                    });
                }
                Err(_) => tracing::warn!(miner = %rental.miner_hotkey,
                    "a test container could not be released (no runtime); it expires on its own"),
            }
        }
    }
}

async fn release_with_retries(dendrite: &Dendrite, rental: &Rental) -> bool {
    for attempt in 1..=RELEASE_ATTEMPTS {
        match renting::release(dendrite, rental).await {
            Ok(()) => return true,
            Err(e) => {
                tracing::debug!(miner = %rental.miner_hotkey, attempt, error = %e, "release failed");
                if attempt < RELEASE_ATTEMPTS {
                    tokio::time::sleep(RELEASE_PAUSE).await;
                }
            }
        }
    }
    tracing::warn!(miner = %rental.miner_hotkey, attempts = RELEASE_ATTEMPTS,
        "the miner did not release the test container");
    false
}

/// One attempt on one miner. `known_host_key` is what the miner showed last time (when it
/// sends no fingerprint of its own); returns the outcome and the host key it showed now.
pub async fn attempt(
    ctx: &RoundContext,
    miner: &Candidate,
    known_host_key: Option<&str>,
) -> (Outcome, Option<String>) {
    let target = Target {
        addr: miner.axon,
        hotkey: miner.hotkey.to_ss58(),
    };
    let failed = |step: &str, reason: &dyn std::fmt::Display| {
        (Outcome::Failed(format!("{step}: {reason}")), None)
    };
    if ctx.check_availability {
        match renting::available(&ctx.dendrite, &target, 1).await {
            Ok(true) => {}
            Ok(false) => return failed("allocation", &"the miner is busy"),
            Err(e) => return failed("allocation", &e),
        }
    }
    let key = match renting::new_key().await {
        Ok(key) => key,
        Err(e) => return failed("allocation", &e),
    };
    let request = RentRequest {
        device: DeviceRequirement::proof_of_gpu(),
        days: 1,
        ssh_key: None,
        base_image: ctx.base_image.clone(),
    };
    let rental = match renting::rent(&ctx.dendrite, &target, &request, &key).await {
        Ok(rental) => rental,
        Err(e) => {
            // The answer may have been lost after the miner allocated: release if so.
            tokio::spawn(settle(ctx.dendrite.clone(), target, key));
            return failed("allocation", &e);
        }
    };
    let allocation = Allocation {
        dendrite: ctx.dendrite.clone(),
        rental: Some(rental.clone()),
    };
    let (outcome, shown) = test_container(ctx, &rental, known_host_key).await;
    let released = allocation.release().await;
    match outcome {
        Ok(verified) if released => (Outcome::Passed(verified), shown),
        Ok(_) => (
            Outcome::Failed("release: the miner did not release the test container".into()),
            shown,
        ),
        Err(failed) => (failed, shown),
    }
}

/// Releases whatever a miner allocated for `key` when its answer was lost.
async fn settle(dendrite: Arc<Dendrite>, target: Target, key: RentalKey) {
    let settled = renting::settle_lost(&dendrite, &target, &key).await;
    tracing::debug!(miner = %target.hotkey, ?settled, "settled a test allocation whose answer was lost");
}

/// SSH into the allocated container and run the test steps, then the health check when it is
/// on. The error is the failed outcome.
async fn test_container(
    ctx: &RoundContext,
    rental: &Rental,
    known_host_key: Option<&str>,
) -> (Result<Verified, Outcome>, Option<String>) {
    let policy = match &rental.host_key_fingerprint {
        Some(fingerprint) => HostKeyPolicy::Expect(fingerprint.clone()),
        None => HostKeyPolicy::Record,
    };
    let login = Login {
        addr: (rental.host, rental.ssh_port).into(),
        username: rental.username.clone(),
        password: Zeroizing::new(rental.password.clone()),
        host_key: policy,
    };
    let session = match Session::open(&login, SSH_CONNECT).await {
        Ok(session) => session,
        Err(e) => return (Err(Outcome::Failed(format!("ssh: {e}"))), None),
    };
    let shown = session.host_key_fingerprint().to_string();
    if rental.host_key_fingerprint.is_none() {
        if let Some(known) = known_host_key.filter(|k| *k != shown) {
            tracing::warn!(miner = %rental.miner_hotkey, previous = %known, now = %shown,
                "the miner's container shows another SSH host key than at its last test");
        }
    }
    let result = match proof_of_gpu::run(&session, &ctx.settings).await {
        Err(failure) => Err(Outcome::Failed(format!("{}: {failure}", failure.step()))),
        Ok(verified) if ctx.health_check => {
            match health_check::check(&session, rental.host, &rental.user_ports).await {
                Ok(()) => {
                    let ports: Vec<String> = rental
                        .user_ports
                        .iter()
                        .map(|(inside, host)| format!("{inside}->{host}"))
                        .collect();
                    tracing::info!(miner = %rental.miner_hotkey, ports = %ports.join(" "),
                        "health check passed: every user port answers");
                    Ok(verified)
                }
                Err(e) => Err(Outcome::Unhealthy(format!("health check: {e}"))),
            }
        }
        Ok(verified) => Ok(verified),
    };
    session.close().await;
    (result, Some(shown))
}

/// Tests `miners` with bounded concurrency; each final result is recorded in `state` (at
/// `block`) and saved to `file` at once. Stops early, recording nothing more, on shutdown or
/// at `deadline`. Returns how many passed and how many were tested.
#[allow(clippy::too_many_arguments)]
pub async fn run_round(
    ctx: Arc<RoundContext>,
    miners: Vec<Candidate>,
    state: Arc<Mutex<ValidatorState>>,
    file: StateFile,
    block: u64,
    deadline: tokio::time::Instant,
    shutdown: Shutdown,
) -> (usize, usize) {
    let permits = Arc::new(Semaphore::new(ctx.concurrency.max(1)));
    let mut tasks = JoinSet::new();
    for miner in miners {
        let (ctx, permits, state, file, shutdown) = (
            ctx.clone(),
            permits.clone(),
            state.clone(),
            file.clone(),
            shutdown.clone(),
        );
        tasks.spawn(async move {
            let Ok(_permit) = permits.acquire_owned().await else {
                return None;
            };
            let hotkey = miner.hotkey.to_ss58();
            let known = state
                .lock()
                .await
                .miners
                .get(&hotkey)
                .and_then(|r| r.host_key.clone());
            let mut outcome = None;
            let mut shown = None;
            for try_number in 0..=ctx.retry_limit {
                let attempt = tokio::time::timeout(
                    ctx.attempt_timeout,
                    attempt(&ctx, &miner, known.as_deref()),
                );
                // A miner the round's time ran out on before any attempt ended keeps its
                // history unchanged (it was not tested, it did not fail).
                tokio::select! {
                    _ = shutdown.requested() => return None,
                    _ = tokio::time::sleep_until(deadline) => break,
                    result = attempt => match result {
                        Ok((o, s)) => { outcome = Some(o); shown = s.or(shown); }
                        Err(_) => outcome = Some(Outcome::Failed(format!(
                            "timeout: the attempt took longer than {:?}", ctx.attempt_timeout))),
                    },
                }
                if matches!(outcome, Some(Outcome::Passed(_) | Outcome::Unhealthy(_)))
                    || try_number == ctx.retry_limit
                {
                    break;
                }
                tracing::debug!(miner = %hotkey, try_number, ?outcome, "test failed; retrying");
                tokio::select! {
                    _ = shutdown.requested() => return None,
                    _ = tokio::time::sleep_until(deadline) => break,
                    _ = tokio::time::sleep(ctx.retry_interval) => {}
                }
            }
            let outcome = outcome?;
            let passed = matches!(outcome, Outcome::Passed(_));
            ctx.metrics.pog_result(match outcome.failure() {
                None => "passed",
                Some(reason) => reason.split(':').next().unwrap_or("failed"),
            });
            match (&outcome, outcome.failure()) {
                (Outcome::Passed(v), _) => tracing::info!(miner = %hotkey, uid = miner.uid,
                    model = %v.model, gpus = v.gpus, compute_secs = v.compute_secs, "Proof-of-GPU passed"),
                (_, reason) => tracing::info!(miner = %hotkey, uid = miner.uid,
                    reason = reason.unwrap_or_default(), "Proof-of-GPU failed"),
            }
            let result = match outcome {
                Outcome::Passed(v) => TestResult {
                    block,
                    spec: Some(Spec {
                        model: v.model,
                        gpus: v.gpus,
                    }),
                    failure: None,
                },
                Outcome::Failed(reason) | Outcome::Unhealthy(reason) => TestResult {
                    block,
                    spec: None,
                    failure: Some(reason),
                },
            };
            let snapshot = {
                let mut state = state.lock().await;
                state.record(&hotkey, miner.uid, result, ctx.keep);
                if let (Some(shown), Some(record)) = (shown, state.miners.get_mut(&hotkey)) {
                    record.host_key = Some(shown);
                }
                state.clone()
            };
            let saved = tokio::task::spawn_blocking(move || file.save(&snapshot)).await;
            match saved {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "saving the validator state"),
                Err(e) => tracing::error!(error = %e, "saving the validator state"),
            }
            Some(passed)
        });
    }
    let (mut passed, mut tested) = (0, 0);
    while let Some(joined) = tasks.join_next().await {
        if let Ok(Some(ok)) = joined {
            tested += 1;
            passed += usize::from(ok);
        }
    }
    (passed, tested)
}
