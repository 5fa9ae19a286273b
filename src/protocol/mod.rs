//! The bittensor synapse wire, shared by the axon (server) and the dendrite (client).
//!
//! A synapse is a JSON body plus headers (`bittensor-wire.md` §2–4): the SN27 payload fields,
//! the base fields every synapse has (`name`, `timeout`, sizes, the `dendrite` and `axon`
//! terminal blocks, `computed_body_hash`), and `bt_header_*` headers that repeat the terminal
//! blocks as strings. The caller signs `{nonce}.{caller}.{axon}.{uuid}.{body_hash}` with its
//! hotkey.
//!
//! SN27's payloads live here too: the synapse classes, the typed model of an `Allocate`
//! request and answer ([`AllocateRequest`], [`AllocateOutput`]) that the miner and the renting
//! validator share, and the RSA-OAEP credential blob ([`credentials`]).
//!
//! Invariant: this module does no I/O and knows nothing of Docker, GPUs or the chain; it turns
//! values into bytes and back, and checks signatures.

mod allocate;
mod body_hash;
pub mod credentials;
mod headers;
pub mod run_signature;
mod signing;
mod synapse;

pub use allocate::{
    AllocateOutput, AllocateRequest, DeviceRequirement, DockerAction, DockerRequirement,
    GpuRequirement, KeySlot, PayloadError, SshPublicKey,
};
pub use body_hash::{body_hash, python_str, EMPTY_BODY_HASH};
pub use headers::{HeaderError, RequestHeaders};
pub use signing::{signed_message, verify_signature};
pub use synapse::{Allocate, Challenge, Ping, Specs, Synapse, SynapseFields, TerminalInfo};

/// `bt_header_dendrite_version` our dendrite sends: the `version_as_int` of bittensor 9.0.0,
/// the SDK SN27 peers run. Axons apply the first-nonce freshness rule to versions ≥ 7.2.0.
pub const WIRE_VERSION: u64 = 9_000_000;

/// Versions from this one on use nanosecond nonces with the freshness window.
pub const FRESHNESS_MIN_VERSION: u64 = 7_002_000;
