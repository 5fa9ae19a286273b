//! The hotkey signature SN27 nodes put in their W&B runs (`sn27-protocol.md` §11): the hex (no
//! `0x`) sr25519 signature over the 32 bytes of `sha256(run_id)`. It proves that the hotkey
//! owner made the run id, not what the run says.

use sha2::{Digest, Sha256};

use crate::keys::{Keypair, PublicKey};

/// The 32 bytes a run signature covers.
fn signed_bytes(run_id: &str) -> [u8; 32] {
    Sha256::digest(run_id.as_bytes()).into()
}

/// Signs `run_id` with `hotkey`, as the `signature` config key carries it.
pub fn sign_run(hotkey: &Keypair, run_id: &str) -> String {
    hex::encode(hotkey.sign(&signed_bytes(run_id)))
}

/// Whether `signature` (hex, as a run's config carries it) is `hotkey`'s (ss58) signature of
/// `run_id`; anything malformed is simply not a valid signature.
pub fn verify_run(hotkey: &str, run_id: &str, signature: &str) -> bool {
    let Ok(public) = PublicKey::from_ss58(hotkey) else {
        return false;
    };
    let Ok(bytes) = hex::decode(signature.trim_start_matches("0x")) else {
        return false;
    };
    public.verify(&signed_bytes(run_id), &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_for_its_run_and_hotkey_only() {
        let key = Keypair::generate(12).unwrap();
        let other = Keypair::generate(12).unwrap();
        let signature = sign_run(&key, "ab12cd34");
        assert_eq!(signature.len(), 128);
        assert!(verify_run(&key.ss58(), "ab12cd34", &signature));
        assert!(!verify_run(&key.ss58(), "ab12cd35", &signature));
        assert!(!verify_run(&other.ss58(), "ab12cd34", &signature));
        assert!(!verify_run("not-an-address", "ab12cd34", &signature));
        assert!(!verify_run(&key.ss58(), "ab12cd34", "zz"));
        assert!(!verify_run(&key.ss58(), "ab12cd34", &signature[..64]));
    }
}
