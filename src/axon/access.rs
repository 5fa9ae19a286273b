//! The question the axon asks before doing any work for a caller: may this hotkey call this
//! synapse, and how urgently? The answer is the subnet's business (the miner's caller policy
//! lives with the miner); the axon only turns a refusal into HTTP 403 and the priority into a
//! place in its queue.

use crate::keys::PublicKey;
use crate::metagraph::Neuron;

/// Decides who may call an axon, on header claims only (the signature is checked after).
pub trait AccessPolicy: Send + Sync + 'static {
    /// `Ok` admits the caller with a priority; `Err(reason)` refuses it with HTTP 403.
    fn admit(&self, caller: &PublicKey, synapse: &str) -> Result<Admission, String>;
}

/// An admitted caller, as far as the policy knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Admission {
    /// Higher goes first when requests queue for a worker.
    pub priority: f64,
    /// The caller's neuron, when the policy looked it up.
    pub neuron: Option<Neuron>,
}

/// Told about every answered request (after the answer is built): for counting and for
/// reporting refusals, which the axon itself logs only at debug level.
pub trait RequestObserver: Send + Sync + 'static {
    /// `synapse` is the request path; `status` the HTTP status sent; `caller` the hotkey the
    /// headers claimed; `message` the refusal's reason when `status` is not 200.
    fn answered(&self, synapse: &str, status: u16, caller: Option<&str>, message: Option<&str>);
}

/// Admits everyone at priority 0: for servers that only answer pings, and for tests.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenAccess;

impl AccessPolicy for OpenAccess {
    fn admit(&self, _caller: &PublicKey, _synapse: &str) -> Result<Admission, String> {
        Ok(Admission {
            priority: 0.0,
            neuron: None,
        })
    }
}
