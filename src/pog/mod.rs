//! Proof-of-GPU (PoG) mathematics, kept pure: no I/O, no GPU, no async.
//!
//! A validator proves that a miner owns the GPUs it claims by making it multiply two
//! pseudo-random matrices, commit to the product with a Merkle root, and then open a few
//! rows on demand (sn27-protocol §6). Everything here is the arithmetic both sides must
//! agree on bit for bit, so it lives apart from SSH, Docker and the chain and can be tested
//! against the specification's vectors and an independent numpy oracle.
//!
//! Module map:
//! - [`prng`]: the xorshift32 element generator (§6.4) and fast whole-matrix generation.
//! - [`sizes`]: VRAM estimate → matrix sizes (§6.3), including the v1/v2 Merkle buffers.
//! - [`merkle`]: the row Merkle tree, its proofs and the hardened proof check (§6.5).
//! - [`check`]: the validator's per-challenge value check, pass threshold and timing rule (§6.6).
//! - [`identify`]: benchmark figures → GPU model (§6.7).
//! - [`worker_output`]: strict parsers for the JSON printed by our own worker ([`WORKER`]),
//!   whose every byte comes from an untrusted miner.
//! - `parallel` (private): splits row loops across scoped threads.
//! - `sha_lanes` (private): SHA-256 of four equal-length rows at once with the x86 SHA
//!   instructions, used for Merkle leaves; falls back to `sha2` elsewhere.
//!
//! Invariants: nothing in this module reads files, spawns processes or talks to a network;
//! threads are used only inside a call (`std::thread::scope`) to make the big loops fast,
//! and results never depend on the number of threads or on which SHA-256 code path ran.
//! `sha_lanes` holds this module's only `unsafe` code (SIMD intrinsics behind a runtime CPU
//! check), tested against `sha2`.
//!
//! The worker itself is Python (`worker.py` beside this file, compiled in as [`WORKER`]): a
//! validator uploads it into a miner's container and runs it there with the container's
//! Python and torch. Its docstring documents the JSON protocol, version
//! [`worker_output::PROTOCOL_VERSION`]. Tests compare everything here against an independent
//! numpy implementation (`tests/python/pog_oracle.py`); `benches/pog.rs` times it against the
//! reference's algorithms in numpy.

pub mod check;
pub mod identify;
pub mod merkle;
mod parallel;
pub mod prng;
mod sha_lanes;
pub mod sizes;
pub mod worker_output;

pub use merkle::{MerkleTree, Node, PogError, ProofError};

/// The worker program a validator uploads into a miner's container.
pub const WORKER: &str = include_str!("worker.py");

/// SHA-256 (lower-case hex) of [`WORKER`]: what the validator expects the uploaded file to
/// hash to inside the container.
pub fn worker_sha256() -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(WORKER.as_bytes()))
}
