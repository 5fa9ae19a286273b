//! The validator's logic: what it asks of miners and what it concludes.
//!
//! - [`health_check`]: the v2.1+ check that a rented container's user ports answer from here.
//! - [`live_config`]: the reference's live `/config`, followed when the operator asks.
//! - [`renting`]: renting a miner's container (allocate with a fresh RSA key, open the
//!   credentials, keep the rental on disk, release it).
//! - [`scoring`]: the formula that turns a proven GPU model and count into points, over the
//!   `[scoring]` table.
//! - [`wandb_inputs`]: the W&B inputs of v2.2.1 validators' scores (miners' signed specs
//!   runs, the penalty list), read when `[wandb] enabled`.
//! - [`weights`]: scores to the `u16` weights `set_weights` carries, bit for bit as the SDK.
//! - [`reveal`]: setting weights directly, as hash commit-reveal or timelocked, and the
//!   bookkeeping that survives restarts between a commit and its reveal.
//!
//! The chain adapter only carries what is decided here.

pub mod health_check;
pub mod live_config;
pub mod proof_of_gpu;
pub mod renting;
pub mod reveal;
pub mod round;
pub mod scoring;
pub mod selection;
pub mod serve;
pub mod state;
pub mod wandb_inputs;
pub mod weights;
