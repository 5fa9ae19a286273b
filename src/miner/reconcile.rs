//! Start-up reconciliation: the journal says what the miner meant to do, Docker says what
//! exists; after a crash or a reboot the two are brought into agreement before the miner
//! serves again.

use super::journal::{Entry, Stage};
use super::{now, AllocationError, Allocations, SSH_READY};
use crate::docker::{short, DockerError, LabeledContainer};
use crate::report::Report;

/// What reconciliation found and did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Reconciliation {
    pub kept: usize,
    pub restarted: usize,
    pub recreated: usize,
    pub rolled_back: usize,
    pub expired: usize,
    pub orphans_removed: usize,
}

/// What [`Allocations::revive`] did.
enum Revived {
    Kept,
    Restarted,
    Recreated,
}

impl Allocations {
    /// Brings journal and Docker into agreement: allocations interrupted before their
    /// credentials existed are rolled back; live ones get their container running again
    /// (recreated with the same credentials if it vanished); expired ones and interrupted
    /// releases are released; containers no entry owns are removed.
    pub async fn reconcile(&self) -> Result<Reconciliation, AllocationError> {
        let mut entries = self.entries.lock().await;
        let journal = self.journal.clone();
        let loaded = tokio::task::spawn_blocking(move || journal.load())
            .await
            .expect("journal reads do not panic")?;
        let containers = self.docker.labeled(&self.settings.miner).await?;
        let mut report = Reconciliation::default();
        let now = now();
        let mut live = Vec::new();
        for mut entry in loaded {
            let container = containers.iter().find(|c| c.allocation == entry.id);
            let rollback = matches!(entry.stage, Stage::Requested | Stage::ContainerCreated);
            if rollback || entry.stage == Stage::Releasing || entry.lease_end <= now {
                if let Some(c) = container {
                    self.docker.remove(&c.id).await?;
                }
                self.docker.remove(&entry.container_name).await?;
                self.forget(&entry.id).await?;
                if rollback {
                    tracing::info!(id = %entry.id, stage = entry.stage.label(),
                        "rolled back an allocation interrupted before its credentials were issued");
                    report.rolled_back += 1;
                } else {
                    tracing::info!(id = %entry.id, "released an expired or half-released allocation");
                    report.expired += 1;
                }
                continue;
            }
            // CredentialsIssued or Active: the caller may hold the credentials, keep it. A
            // container that cannot be brought back is logged, and the entry kept so that its
            // owner can still release it; it does not stop the miner from serving.
            match self.revive(&mut entry, container).await {
                Ok(Revived::Kept) => report.kept += 1,
                Ok(Revived::Restarted) => report.restarted += 1,
                Ok(Revived::Recreated) => report.recreated += 1,
                Err(e) => tracing::error!(id = %entry.id, error = %Report(&e),
                    "could not bring a rental's container back; its owner can still release it"),
            }
            entry.stage = Stage::Active;
            self.save(&entry).await?;
            live.push(entry);
        }
        for container in containers {
            if !live.iter().any(|e| e.id == container.allocation) {
                self.docker.remove(&container.id).await?;
                tracing::info!(container = %container.name, "removed a container no allocation owns");
                report.orphans_removed += 1;
            }
        }
        *entries = live;
        Ok(report)
    }

    /// Gets a live allocation's container running again after a restart of the miner.
    async fn revive(
        &self,
        entry: &mut Entry,
        container: Option<&LabeledContainer>,
    ) -> Result<Revived, DockerError> {
        match container {
            Some(c) if c.state == "running" || c.state == "paused" => Ok(Revived::Kept),
            Some(c) => {
                self.docker.start(&c.id).await?;
                if entry.paused {
                    self.docker.pause(&c.id).await?;
                } else {
                    crate::docker::wait_for_ssh(entry.ssh_port, SSH_READY).await?;
                }
                tracing::info!(id = %entry.id, container = short(&c.id), "restarted a rental's container");
                Ok(Revived::Restarted)
            }
            None => {
                let id = self
                    .docker
                    .create_and_start(&self.settings.image, &self.spec(entry))
                    .await?;
                entry.container_id = Some(id.clone());
                self.docker
                    .set_credentials(&id, &entry.password, &entry.authorized_keys)
                    .await?;
                let fingerprint = self.docker.host_key_fingerprint(&id).await?;
                crate::docker::wait_for_ssh(entry.ssh_port, SSH_READY).await?;
                tracing::warn!(id = %entry.id, host_key = %fingerprint,
                    "a rental's container was gone; recreated it with the same credentials \
                     (files inside and the host key are new)");
                Ok(Revived::Recreated)
            }
        }
    }
}
