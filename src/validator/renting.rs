//! Renting a miner's container as a validator (the reference's `register.py`): allocate with a
//! fresh RSA key, open the credentials, keep key and credentials in the state directory, and
//! release or act on the rental later — from any process, after any restart.
//!
//! A rental file (`<state_dir>/rentals/<miner hotkey>.json`, mode 0600) holds the private key
//! that proves ownership to the miner (it is what `public_key` is compared against) and the
//! root password, so it is written atomically and never logged.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::dendrite::{Dendrite, Target};
use crate::fsutil::write_private;
use crate::protocol::credentials::RentalKey;
use crate::protocol::{
    AllocateOutput, AllocateRequest, DeviceRequirement, DockerAction, DockerRequirement,
    SshPublicKey,
};

/// Time limits of the calls, as SN27 v1.9.0 validators use them.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(15);
pub const ALLOCATE_TIMEOUT: Duration = Duration::from_secs(60);

/// A rented container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rental {
    pub miner_hotkey: String,
    pub host: IpAddr,
    pub axon_port: u16,
    pub ssh_port: u16,
    pub username: String,
    pub password: String,
    /// `SHA256:…` of the container's host key when the miner sent it (sn27 miners do).
    pub host_key_fingerprint: Option<String>,
    /// Container port → host port of the renter's own services (v2.2 miners announce four).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub user_ports: BTreeMap<u16, u16>,
    /// PKCS#8 PEM of the key the allocation was made with.
    pub private_key_pem: String,
    pub days: i64,
    pub rented_at: u64,
    /// The allocation was sent but its answer never came (no credentials); the key is kept so
    /// that `release` can free whatever the miner allocated.
    #[serde(default)]
    pub pending: bool,
}

impl Rental {
    /// The record kept while an allocation with `key` is in flight to `target`.
    pub fn pending(target: &Target, key: &RentalKey, days: i64) -> Rental {
        Rental {
            miner_hotkey: target.hotkey.clone(),
            host: target.addr.ip(),
            axon_port: target.addr.port(),
            ssh_port: 0,
            username: String::new(),
            password: String::new(),
            host_key_fingerprint: None,
            user_ports: BTreeMap::new(),
            private_key_pem: key.private_pem().to_string(),
            days,
            rented_at: now(),
            pending: true,
        }
    }

    pub fn target(&self) -> Target {
        Target {
            addr: (self.host, self.axon_port).into(),
            hotkey: self.miner_hotkey.clone(),
        }
    }

    pub fn ssh_command(&self) -> String {
        format!("ssh -p {} {}@{}", self.ssh_port, self.username, self.host)
    }

    /// The key the allocation was made with.
    pub fn key(&self) -> Result<RentalKey, RentError> {
        RentalKey::from_private_pem(&self.private_key_pem)
            .map_err(|e| RentError::Store(format!("rental of {}: {e}", self.miner_hotkey)))
    }
}

/// What a renter asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct RentRequest {
    pub device: DeviceRequirement,
    pub days: i64,
    pub ssh_key: Option<SshPublicKey>,
    pub base_image: String,
}

/// Why renting, releasing or an action failed.
#[derive(Debug, thiserror::Error)]
pub enum RentError {
    #[error("miner {miner} did not answer the {what}: {reason}")]
    NoAnswer {
        miner: String,
        what: &'static str,
        reason: String,
    },
    #[error("miner {miner} refused the {what}")]
    Refused { miner: String, what: &'static str },
    #[error("{0}")]
    Store(String),
    #[error("{0}")]
    Credentials(String),
}

/// Sends `request` and reads the answer.
async fn ask(
    dendrite: &Dendrite,
    target: &Target,
    request: &AllocateRequest,
    timeout: Duration,
) -> Result<AllocateOutput, RentError> {
    let reply = dendrite.call(target, request.to_fields(), timeout).await;
    if !reply.is_success() {
        return Err(RentError::NoAnswer {
            miner: target.hotkey.clone(),
            what: request.label(),
            reason: format!("{} {}", reply.status_code, reply.status_message),
        });
    }
    Ok(AllocateOutput::from_json(&reply.synapse.fields.output))
}

/// [`ask`], where anything but `status: true` is a refusal.
async fn expect_yes(
    dendrite: &Dendrite,
    target: &Target,
    request: &AllocateRequest,
    timeout: Duration,
) -> Result<AllocateOutput, RentError> {
    let output = ask(dendrite, target, request, timeout).await?;
    if !output.ok() {
        return Err(RentError::Refused {
            miner: target.hotkey.clone(),
            what: request.label(),
        });
    }
    Ok(output)
}

/// Whether the miner at `target` is free to allocate (branch A).
pub async fn available(dendrite: &Dendrite, target: &Target, days: i64) -> Result<bool, RentError> {
    let request = AllocateRequest::CheckAvailability { days };
    Ok(ask(dendrite, target, &request, CHECK_TIMEOUT).await?.ok())
}

/// A fresh RSA-2048 key for one rental (generated on a blocking thread: it takes a while).
pub async fn new_key() -> Result<RentalKey, RentError> {
    tokio::task::spawn_blocking(RentalKey::generate)
        .await
        .map_err(|e| RentError::Credentials(e.to_string()))?
        .map_err(|e| RentError::Credentials(e.to_string()))
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Allocates a container on the miner at `target` with `key` and opens its credentials. A
/// caller that must survive its own crash stores [`Rental::pending`] first.
pub async fn rent(
    dendrite: &Dendrite,
    target: &Target,
    request: &RentRequest,
    key: &RentalKey,
) -> Result<Rental, RentError> {
    let allocate = AllocateRequest::Allocate {
        days: request.days,
        public_key: key.public_pem(),
        device: request.device.clone(),
        docker: DockerRequirement {
            base_image: request.base_image.clone(),
            ssh_key: request.ssh_key.clone(),
        },
    };
    let output = expect_yes(dendrite, target, &allocate, ALLOCATE_TIMEOUT).await?;
    let info = output
        .info
        .ok_or_else(|| RentError::Credentials("the miner's answer has no info".into()))?;
    let credentials = key
        .open(&info)
        .map_err(|e| RentError::Credentials(e.to_string()))?;
    Ok(Rental {
        miner_hotkey: target.hotkey.clone(),
        host: target.addr.ip(),
        axon_port: target.addr.port(),
        ssh_port: credentials.port,
        username: credentials.username.clone(),
        password: credentials.password.clone(),
        host_key_fingerprint: credentials
            .host_key_fingerprint
            .clone()
            .or(output.host_key_fingerprint),
        user_ports: credentials.external_user_ports.clone(),
        private_key_pem: key.private_pem().to_string(),
        days: request.days,
        rented_at: now(),
        pending: false,
    })
}

/// What became of an allocation whose answer was lost (timeout, dropped connection, crashed
/// miner).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LostAllocation {
    /// The miner holds no allocation for the key.
    NothingAllocated,
    /// It did allocate; the credentials went with the answer, so it was released.
    Released,
    /// The miner cannot tell now; keep the key and release later.
    Unknown,
}

/// Settles an allocation made with `key` whose answer was lost: if the miner did allocate,
/// release it rather than leave the miner blocked until the lease ends.
pub async fn settle_lost(dendrite: &Dendrite, target: &Target, key: &RentalKey) -> LostAllocation {
    let public_key = key.public_pem();
    let check = AllocateRequest::CheckOwnership {
        public_key: public_key.clone(),
    };
    match ask(dendrite, target, &check, CHECK_TIMEOUT).await {
        Ok(output) if output.ok() => {
            let release = AllocateRequest::Release { public_key };
            match expect_yes(dendrite, target, &release, CHECK_TIMEOUT).await {
                Ok(_) => LostAllocation::Released,
                Err(_) => LostAllocation::Unknown,
            }
        }
        Ok(_) => LostAllocation::NothingAllocated,
        Err(_) => LostAllocation::Unknown,
    }
}

/// Releases a rental (branch E).
pub async fn release(dendrite: &Dendrite, rental: &Rental) -> Result<(), RentError> {
    let request = AllocateRequest::Release {
        public_key: rental.key()?.public_pem(),
    };
    expect_yes(dendrite, &rental.target(), &request, CHECK_TIMEOUT).await?;
    Ok(())
}

/// A lifecycle action on a rental (branch C).
pub async fn act(
    dendrite: &Dendrite,
    rental: &Rental,
    action: DockerAction,
) -> Result<(), RentError> {
    let request = AllocateRequest::Action {
        public_key: rental.key()?.public_pem(),
        action,
    };
    expect_yes(dendrite, &rental.target(), &request, ALLOCATE_TIMEOUT).await?;
    Ok(())
}

/// The rentals of this validator, one file per miner.
#[derive(Debug, Clone)]
pub struct RentalStore {
    dir: PathBuf,
}

impl RentalStore {
    pub fn new(state_dir: &Path) -> Self {
        RentalStore {
            dir: state_dir.join("rentals"),
        }
    }

    fn path(&self, miner: &str) -> Result<PathBuf, RentError> {
        // Hotkeys are ss58; anything else must not become a path.
        if miner.is_empty() || !miner.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(RentError::Store(format!(
                "{miner:?} is not a hotkey address"
            )));
        }
        Ok(self.dir.join(format!("{miner}.json")))
    }

    pub fn save(&self, rental: &Rental) -> Result<PathBuf, RentError> {
        let path = self.path(&rental.miner_hotkey)?;
        let bytes = serde_json::to_vec_pretty(rental)
            .map_err(|e| RentError::Store(format!("{}: {e}", path.display())))?;
        write_private(&path, &bytes)
            .map_err(|e| RentError::Store(format!("{}: {e}", path.display())))?;
        Ok(path)
    }

    pub fn load(&self, miner: &str) -> Result<Rental, RentError> {
        let path = self.path(miner)?;
        let bytes = std::fs::read(&path).map_err(|e| {
            RentError::Store(format!("no rental of {miner} ({}: {e})", path.display()))
        })?;
        serde_json::from_slice(&bytes)
            .map_err(|e| RentError::Store(format!("{}: {e}", path.display())))
    }

    pub fn remove(&self, miner: &str) -> Result<(), RentError> {
        let path = self.path(miner)?;
        std::fs::remove_file(&path)
            .map_err(|e| RentError::Store(format!("{}: {e}", path.display())))
    }

    pub fn list(&self) -> Result<Vec<Rental>, RentError> {
        let listing = match std::fs::read_dir(&self.dir) {
            Ok(listing) => listing,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(RentError::Store(format!("{}: {e}", self.dir.display()))),
        };
        let mut rentals = Vec::new();
        for item in listing.flatten() {
            let path = item.path();
            if path.extension().and_then(|e| e.to_str()) == Some("json") {
                let bytes = std::fs::read(&path)
                    .map_err(|e| RentError::Store(format!("{}: {e}", path.display())))?;
                rentals.push(
                    serde_json::from_slice(&bytes)
                        .map_err(|e| RentError::Store(format!("{}: {e}", path.display())))?,
                );
            }
        }
        rentals.sort_by_key(|r: &Rental| r.rented_at);
        Ok(rentals)
    }
}
