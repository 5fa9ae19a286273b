//! The subtensor chain as sn27 uses it.
//!
//! So far: the weight arithmetic and commit hash that must match the Python SDK bit for bit.
//! The `Chain` interface with its subtensor (subxt, dynamic metadata) and embedded devnet
//! implementations builds on these.

pub mod commit;
pub mod weights;
