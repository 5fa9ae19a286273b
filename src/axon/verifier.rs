//! Request signature verification, batched under load.
//!
//! Verifying a request's sr25519 signature is most of an axon's work. Requests that arrive
//! together are verified together: one schnorrkel batch verification (a single multi-scalar
//! multiplication with random weights, as sound as checking each) costs far less than checking
//! each alone. A batch is whatever is queued when the verifier runs, so an idle axon adds no
//! latency; a failed batch is re-checked signature by signature, so one bad request never
//! fails another. Decompressed public keys of recent callers are cached.
//!
//! Each batch holds at most [`MAX_BATCH`] signatures (about 1 ms of work) so that the task
//! running it never stalls the runtime for long.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use schnorrkel::{signing_context, PublicKey as SchnorrkelKey, Signature};
use tokio::sync::{mpsc, oneshot};

use crate::keys::PublicKey;

/// Signatures checked in one batch at most.
pub const MAX_BATCH: usize = 32;
/// Decompressed keys kept; the cache is cleared when it is full.
const KEY_CACHE: usize = 4096;
/// The signing context of every Bittensor signature.
const CONTEXT: &[u8] = b"substrate";

struct Job {
    key: PublicKey,
    message: Vec<u8>,
    signature: [u8; 64],
    done: oneshot::Sender<bool>,
}

/// A handle to the verification task; cheap to clone.
#[derive(Clone)]
pub struct SignatureVerifier {
    jobs: mpsc::UnboundedSender<Job>,
}

impl SignatureVerifier {
    /// Starts the verification task on the current runtime.
    pub fn spawn() -> Self {
        let (jobs, queue) = mpsc::unbounded_channel();
        tokio::spawn(run(queue, Arc::new(Mutex::new(HashMap::new()))));
        SignatureVerifier { jobs }
    }

    /// Whether `signature_hex` (`0x`-hex) is `key`'s signature over `message`, or over the
    /// `<Bytes>…</Bytes>`-wrapped message as the Python verifier also accepts.
    pub async fn verify(&self, key: PublicKey, message: &str, signature_hex: &str) -> bool {
        let digits = signature_hex.strip_prefix("0x").unwrap_or(signature_hex);
        let Some(signature) = hex::decode(digits)
            .ok()
            .and_then(|bytes| <[u8; 64]>::try_from(bytes).ok())
        else {
            return false;
        };
        let (done, result) = oneshot::channel();
        let job = Job {
            key,
            message: message.as_bytes().to_vec(),
            signature,
            done,
        };
        if self.jobs.send(job).is_err() {
            // The task is gone (runtime shutting down): check here rather than fail open.
            return crate::protocol::verify_signature(&key, message, signature_hex);
        }
        result.await.unwrap_or(false)
    }
}

async fn run(
    mut queue: mpsc::UnboundedReceiver<Job>,
    keys: Arc<Mutex<HashMap<PublicKey, SchnorrkelKey>>>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let results = check(&batch, &keys);
        for (job, ok) in batch.drain(..).zip(results) {
            let _ = job.done.send(ok);
        }
        // Let the requests just answered make progress before the next batch.
        tokio::task::yield_now().await;
    }
}

fn check(batch: &[Job], keys: &Mutex<HashMap<PublicKey, SchnorrkelKey>>) -> Vec<bool> {
    let parsed: Vec<Option<(SchnorrkelKey, Signature)>> = {
        let mut cache = keys.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= KEY_CACHE {
            cache.clear();
        }
        batch
            .iter()
            .map(|job| {
                let key = match cache.get(&job.key) {
                    Some(key) => *key,
                    None => {
                        let key = SchnorrkelKey::from_bytes(&job.key.0).ok()?;
                        cache.insert(job.key, key);
                        key
                    }
                };
                Some((key, Signature::from_bytes(&job.signature).ok()?))
            })
            .collect()
    };
    let context = signing_context(CONTEXT);
    if batch.len() > 1 && parsed.iter().all(Option::is_some) {
        let (keys, signatures): (Vec<SchnorrkelKey>, Vec<Signature>) =
            parsed.iter().flatten().copied().unzip();
        let transcripts = batch.iter().map(|job| context.bytes(&job.message));
        if schnorrkel::verify_batch(transcripts, &signatures, &keys, false).is_ok() {
            return vec![true; batch.len()];
        }
    }
    batch
        .iter()
        .zip(parsed)
        .map(|(job, parsed)| {
            let Some((key, signature)) = parsed else {
                return false;
            };
            key.verify(context.bytes(&job.message), &signature).is_ok() || {
                let mut wrapped = b"<Bytes>".to_vec();
                wrapped.extend_from_slice(&job.message);
                wrapped.extend_from_slice(b"</Bytes>");
                key.verify(context.bytes(&wrapped), &signature).is_ok()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Keypair;

    fn signed(key: &Keypair, message: &str) -> String {
        format!("0x{}", hex::encode(key.sign(message.as_bytes())))
    }

    #[tokio::test]
    async fn a_bad_signature_in_a_batch_fails_alone() {
        let verifier = SignatureVerifier::spawn();
        let keys: Vec<Keypair> = (0..10).map(|_| Keypair::generate(12).unwrap()).collect();
        let mut checks = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let message = format!("{i}.message");
            // Every third request carries a signature over another message.
            let signature = if i % 3 == 0 {
                signed(key, "something else")
            } else {
                signed(key, &message)
            };
            let verifier = verifier.clone();
            let public = key.public();
            checks.push(tokio::spawn(async move {
                verifier.verify(public, &message, &signature).await
            }));
        }
        for (i, check) in checks.into_iter().enumerate() {
            assert_eq!(check.await.unwrap(), i % 3 != 0, "request {i}");
        }
    }

    #[tokio::test]
    async fn wrapped_messages_and_malformed_signatures() {
        let verifier = SignatureVerifier::spawn();
        let key = Keypair::generate(12).unwrap();
        let wrapped = format!("0x{}", hex::encode(key.sign(b"<Bytes>m</Bytes>")));
        assert!(verifier.verify(key.public(), "m", &wrapped).await);
        assert!(!verifier.verify(key.public(), "m", "0x1234").await);
        assert!(!verifier.verify(key.public(), "m", "not hex").await);
        let other = Keypair::generate(12).unwrap();
        assert!(
            !verifier
                .verify(other.public(), "m", &signed(&key, "m"))
                .await
        );
    }
}
