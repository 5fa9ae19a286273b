//! The dendrite's request signature (`bittensor-wire.md` §4.1).
//!
//! The caller signs `{nonce}.{caller hotkey}.{axon hotkey}.{uuid}.{body hash}` with its hotkey;
//! the axon checks it with *its own* hotkey in the third slot, so a request signed for one axon
//! cannot be replayed against another.

use crate::keys::PublicKey;

/// The signed message.
pub fn signed_message(
    nonce: u64,
    caller_hotkey: &str,
    axon_hotkey: &str,
    uuid: &str,
    body_hash: &str,
) -> String {
    format!("{nonce}.{caller_hotkey}.{axon_hotkey}.{uuid}.{body_hash}")
}

/// Verifies a `0x`-hex signature over `message`, also accepting a signature over the
/// `<Bytes>…</Bytes>`-wrapped message, as the Python verifier does.
pub fn verify_signature(signer: &PublicKey, message: &str, signature_hex: &str) -> bool {
    let digits = signature_hex.strip_prefix("0x").unwrap_or(signature_hex);
    let Ok(signature) = hex::decode(digits) else {
        return false;
    };
    signer.verify(message.as_bytes(), &signature)
        || signer.verify(format!("<Bytes>{message}</Bytes>").as_bytes(), &signature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Keypair;

    #[test]
    fn message_matches_the_documented_example() {
        assert_eq!(
            signed_message(
                1_752_076_800_000_000_000,
                "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY",
                "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty",
                "5ecbd69c-1cec-11ee-b0dc-e29ce36fec1a",
                "5846e2a248cc7151b1117b8a3a7f34fa4a6c33767b321dc2fd9cc396e0b3670b",
            ),
            "1752076800000000000.5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY.\
             5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty.\
             5ecbd69c-1cec-11ee-b0dc-e29ce36fec1a.\
             5846e2a248cc7151b1117b8a3a7f34fa4a6c33767b321dc2fd9cc396e0b3670b"
        );
    }

    #[test]
    fn plain_and_wrapped_signatures_verify() {
        let key = Keypair::generate(12).unwrap();
        let message = "1.a.b.c.d";
        let plain = format!("0x{}", hex::encode(key.sign(message.as_bytes())));
        let wrapped = hex::encode(key.sign(format!("<Bytes>{message}</Bytes>").as_bytes()));
        assert!(verify_signature(&key.public(), message, &plain));
        assert!(verify_signature(&key.public(), message, &wrapped));
        assert!(!verify_signature(&key.public(), "1.a.b.c.e", &plain));
        assert!(!verify_signature(&key.public(), message, "0xnothex"));
        assert!(!verify_signature(&key.public(), message, ""));
    }
}
