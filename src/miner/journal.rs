//! The miner's allocation journal: one JSON file per allocation under
//! `<state_dir>/miner/allocations/`, each state change written atomically (temp file, fsync,
//! rename, directory fsync) *before* the miner acts on it, so that after a crash at any point
//! start-up reconciliation knows what was under way.
//!
//! Files are mode 0600 in a 0700 directory: an entry holds the container's root password (so a
//! vanished container can be recreated with the credentials the renter already has) and the
//! caller's public key.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::fsutil::write_private;

/// Where an allocation is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Accepted; the container is about to be created.
    Requested,
    /// The container exists (id known); credentials not yet given out.
    ContainerCreated,
    /// Credentials set in the container and about to be returned to the caller.
    CredentialsIssued,
    /// The caller has its credentials; the allocation runs until its lease ends.
    Active,
    /// Being released (by its owner, its lease end or reconciliation).
    Releasing,
}

impl Stage {
    /// Every stage, in the order an allocation goes through them.
    pub const ALL: [Stage; 5] = [
        Stage::Requested,
        Stage::ContainerCreated,
        Stage::CredentialsIssued,
        Stage::Active,
        Stage::Releasing,
    ];

    /// The stage's name in logs and on the command line (`--crash-at`).
    pub fn label(self) -> &'static str {
        match self {
            Stage::Requested => "requested",
            Stage::ContainerCreated => "container-created",
            Stage::CredentialsIssued => "credentials-issued",
            Stage::Active => "active",
            Stage::Releasing => "releasing",
        }
    }

    /// The stage named `label`.
    pub fn from_label(label: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|stage| stage.label() == label)
    }
}

/// Whether an allocation is a renter's or a Proof-of-GPU test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Rental,
    Test,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Rental => "rental",
            Kind::Test => "test",
        }
    }
}

/// One allocation as journaled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub id: String,
    pub kind: Kind,
    pub stage: Stage,
    /// The caller's RSA public key, PEM as sent.
    pub caller_pem: String,
    /// The caller's hotkey (ss58), for logs and `sn27` status output.
    pub caller_hotkey: String,
    pub created_at: u64,
    /// Unix seconds at which the allocation is released.
    pub lease_end: u64,
    pub container_name: String,
    pub container_id: Option<String>,
    pub ssh_port: u16,
    pub cpuset: String,
    pub memory_bytes: i64,
    pub password: String,
    pub authorized_keys: String,
    /// The caller's paused state is kept so reconciliation does not unpause a paused rental.
    #[serde(default)]
    pub paused: bool,
}

/// The journal directory.
#[derive(Debug, Clone)]
pub struct Journal {
    dir: PathBuf,
}

/// A journal read or write that failed, with the file.
#[derive(Debug, thiserror::Error)]
#[error("allocation journal {}: {reason}", path.display())]
pub struct JournalError {
    pub path: PathBuf,
    pub reason: String,
}

impl Journal {
    pub fn new(state_dir: &Path) -> Self {
        Journal {
            dir: state_dir.join("miner").join("allocations"),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    fn error(path: &Path, reason: impl std::fmt::Display) -> JournalError {
        JournalError {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        }
    }

    /// Writes `entry` durably (blocking: call from a blocking context or accept the fsync).
    pub fn save(&self, entry: &Entry) -> Result<(), JournalError> {
        let path = self.path(&entry.id);
        let bytes = serde_json::to_vec_pretty(entry).map_err(|e| Self::error(&path, e))?;
        write_private(&path, &bytes).map_err(|e| Self::error(&path, e))
    }

    /// Removes an entry once its allocation is fully released.
    pub fn remove(&self, id: &str) -> Result<(), JournalError> {
        let path = self.path(id);
        match std::fs::remove_file(&path) {
            Ok(()) => {
                if let Ok(dir) = std::fs::File::open(&self.dir) {
                    dir.sync_all().ok();
                }
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Self::error(&path, e)),
        }
    }

    /// Every entry; an unreadable file is an error naming it (the miner refuses to start rather
    /// than forget a rental).
    pub fn load(&self) -> Result<Vec<Entry>, JournalError> {
        let listing = match std::fs::read_dir(&self.dir) {
            Ok(listing) => listing,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Self::error(&self.dir, e)),
        };
        let mut entries = Vec::new();
        for item in listing {
            let path = item.map_err(|e| Self::error(&self.dir, e))?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let bytes = std::fs::read(&path).map_err(|e| Self::error(&path, e))?;
            let entry: Entry = serde_json::from_slice(&bytes).map_err(|e| {
                Self::error(
                    &path,
                    format!("{e}; move the file away to start without it"),
                )
            })?;
            entries.push(entry);
        }
        entries.sort_by_key(|e| e.created_at);
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_files_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::new(dir.path());
        assert!(journal.load().unwrap().is_empty());
        let entry = Entry {
            id: "a1".into(),
            kind: Kind::Rental,
            stage: Stage::Requested,
            caller_pem: "pem".into(),
            caller_hotkey: "5F".into(),
            created_at: 1,
            lease_end: 2,
            container_name: "sn27-rental-a1".into(),
            container_id: None,
            ssh_port: 4444,
            cpuset: "1".into(),
            memory_bytes: 1 << 30,
            password: "secret".into(),
            authorized_keys: String::new(),
            paused: false,
        };
        journal.save(&entry).unwrap();
        let mut next = entry.clone();
        next.stage = Stage::Active;
        journal.save(&next).unwrap();
        assert_eq!(journal.load().unwrap(), vec![next]);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(journal.dir().join("a1.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(journal.dir().join("bad.json"), b"{").unwrap();
        assert!(journal.load().unwrap_err().to_string().contains("bad.json"));
        std::fs::remove_file(journal.dir().join("bad.json")).unwrap();
        journal.remove("a1").unwrap();
        journal.remove("a1").unwrap();
        assert!(journal.load().unwrap().is_empty());
    }
}
