//! The view of a subnet's neurons that access checks need: hotkey → uid, coldkey, stake,
//! validator permit, published prometheus version.
//!
//! The chain module produces [`MetagraphSnapshot`]s; consumers hold a [`SharedMetagraph`] and
//! always read one consistent snapshot, which a periodic resync swaps out whole.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::keys::PublicKey;

/// One registered neuron.
#[derive(Debug, Clone, PartialEq)]
pub struct Neuron {
    pub uid: u16,
    pub hotkey: PublicKey,
    pub coldkey: PublicKey,
    /// Stake as validator checks count it (the chain's total: alpha plus weighted TAO stake),
    /// in whole units of the subnet's alpha.
    pub stake: f64,
    pub validator_permit: bool,
    /// The version in the neuron's on-chain prometheus info (0: never published), which SN27
    /// miners compare with the minimum validator version (`sn27-v2.md` §1.4).
    pub prometheus_version: u32,
}

/// The neurons of one subnet at one block.
#[derive(Debug, Clone, Default)]
pub struct MetagraphSnapshot {
    pub netuid: u16,
    pub block: u64,
    by_hotkey: HashMap<PublicKey, Neuron>,
}

impl MetagraphSnapshot {
    pub fn new(netuid: u16, block: u64, neurons: impl IntoIterator<Item = Neuron>) -> Self {
        MetagraphSnapshot {
            netuid,
            block,
            by_hotkey: neurons.into_iter().map(|n| (n.hotkey, n)).collect(),
        }
    }

    pub fn neuron(&self, hotkey: &PublicKey) -> Option<&Neuron> {
        self.by_hotkey.get(hotkey)
    }

    /// Every neuron, in no particular order.
    pub fn neurons(&self) -> impl Iterator<Item = &Neuron> {
        self.by_hotkey.values()
    }

    pub fn len(&self) -> usize {
        self.by_hotkey.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_hotkey.is_empty()
    }
}

/// A snapshot that a resync task replaces while request handlers read it.
#[derive(Debug, Default)]
pub struct SharedMetagraph(RwLock<Arc<MetagraphSnapshot>>);

impl SharedMetagraph {
    pub fn new(snapshot: MetagraphSnapshot) -> Self {
        SharedMetagraph(RwLock::new(Arc::new(snapshot)))
    }

    /// The current snapshot; cheap (one `Arc` clone).
    pub fn current(&self) -> Arc<MetagraphSnapshot> {
        // A panic while holding the lock cannot leave a half-written Arc, so a poisoned lock
        // still holds a whole snapshot.
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn replace(&self, snapshot: MetagraphSnapshot) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(snapshot);
    }
}
