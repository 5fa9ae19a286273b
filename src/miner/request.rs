//! What an `Allocate` asks of this miner, ready to act on: the protocol's typed request
//! ([`AllocateRequest`], whose parser has already refused malformed fields by name) plus what
//! only the miner checks — the caller's RSA key, which must be one the credentials can be
//! sealed to.

use crate::protocol::credentials::CallerKey;
use crate::protocol::{
    Allocate, AllocateRequest, DeviceRequirement, DockerAction, PayloadError, SshPublicKey,
};

/// The five branches of `sn27-protocol.md` §3.1, as the engine acts on them.
#[derive(Debug)]
pub enum Intent {
    /// A: is this miner free to allocate?
    CheckAvailable,
    /// B: does `key` own the current allocation?
    CheckOwnership { key: String },
    /// C: a lifecycle action on the caller's allocation.
    Action { key: String, action: DockerAction },
    /// D: allocate.
    Allocate(Box<AllocationRequest>),
    /// E: release the caller's allocation.
    Release { key: String },
}

/// A validated allocation request.
#[derive(Debug)]
pub struct AllocationRequest {
    pub caller_key: CallerKey,
    /// The caller's PEM as sent, kept to prove ownership later.
    pub caller_pem: String,
    pub lease_days: i64,
    pub device: DeviceRequirement,
    pub ssh_key: Option<SshPublicKey>,
}

impl AllocationRequest {
    /// A Proof-of-GPU test (`device_requirement.testing`), not a rental.
    pub fn testing(&self) -> bool {
        self.device.testing
    }
}

/// Reads the intent of `fields`, or says which field is wrong.
pub fn parse(fields: &Allocate) -> Result<Intent, PayloadError> {
    Ok(match AllocateRequest::parse(fields)? {
        AllocateRequest::CheckAvailability { .. } => Intent::CheckAvailable,
        AllocateRequest::CheckOwnership { public_key } => {
            Intent::CheckOwnership { key: public_key }
        }
        AllocateRequest::Action { public_key, action } => Intent::Action {
            key: public_key,
            action,
        },
        AllocateRequest::Release { public_key } => Intent::Release { key: public_key },
        AllocateRequest::Allocate {
            days,
            public_key,
            device,
            docker,
        } => {
            let caller_key = CallerKey::from_pem(&fields.public_key).map_err(|e| PayloadError {
                field: "public_key".into(),
                reason: e.to_string(),
            })?;
            Intent::Allocate(Box::new(AllocationRequest {
                caller_key,
                caller_pem: public_key,
                lease_days: days,
                device,
                ssh_key: docker.ssh_key,
            }))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::credentials::RentalKey;
    use crate::protocol::DockerRequirement;

    #[test]
    fn an_allocation_needs_a_usable_rsa_key() {
        let pem = RentalKey::generate().unwrap().public_pem();
        let mut fields = AllocateRequest::Allocate {
            days: 1,
            public_key: pem,
            device: DeviceRequirement::proof_of_gpu(),
            docker: DockerRequirement {
                base_image: String::new(),
                ssh_key: None,
            },
        }
        .to_fields();
        let Intent::Allocate(request) = parse(&fields).unwrap() else {
            panic!("an allocation")
        };
        assert!(request.testing());
        assert_eq!(request.lease_days, 1);

        fields.public_key = "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----".into();
        assert_eq!(parse(&fields).unwrap_err().field, "public_key");
    }
}
