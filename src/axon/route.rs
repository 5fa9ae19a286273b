//! One attached synapse class: body parsing, the body-hash check, the forward function and
//! the success response, behind a type-erased [`Route`] so the axon can hold many classes.

use std::future::Future;
use std::marker::PhantomData;
use std::time::Instant;

use bytes::Bytes;
use futures::future::BoxFuture;

use crate::keys::PublicKey;
use crate::metagraph::Neuron;
use crate::protocol::{body_hash, RequestHeaders, Synapse, SynapseFields, EMPTY_BODY_HASH};

/// Who is calling, after the policy admitted them and their signature verified.
#[derive(Debug, Clone)]
pub struct Caller {
    pub hotkey: PublicKey,
    /// The caller's neuron, when the policy looked it up (not for pings).
    pub neuron: Option<Neuron>,
    pub headers: RequestHeaders,
}

/// The subnet logic behind one synapse class: receives the synapse parsed from the request
/// body and returns the one to send back.
pub trait Forward<T: SynapseFields>: Send + Sync + 'static {
    fn forward(&self, synapse: Synapse<T>, caller: Caller) -> BoxFuture<'static, Synapse<T>>;
}

impl<T, F, Fut> Forward<T> for F
where
    T: SynapseFields,
    F: Fn(Synapse<T>, Caller) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Synapse<T>> + Send + 'static,
{
    fn forward(&self, synapse: Synapse<T>, caller: Caller) -> BoxFuture<'static, Synapse<T>> {
        Box::pin(self(synapse, caller))
    }
}

pub(super) enum RouteError {
    /// Answered with 500, like every body problem on the Python axon.
    Internal(String),
}

/// A response body and its synapse headers.
pub(super) type Reply = (Vec<u8>, Vec<(String, String)>);

pub(super) trait Route: Send + Sync {
    fn call(
        &self,
        body: Bytes,
        claimed_hash: Option<&str>,
        caller: Caller,
        started: Instant,
    ) -> BoxFuture<'static, Result<Reply, RouteError>>;
}

/// The body hash of a synapse; classes without hash fields (all of SN27's) have the constant,
/// so nothing is serialised for them.
fn hash_of<T: SynapseFields>(synapse: &Synapse<T>) -> String {
    if T::HASH_FIELDS.is_empty() {
        EMPTY_BODY_HASH.to_owned()
    } else {
        body_hash(&synapse.fields_json(), T::HASH_FIELDS)
    }
}

pub(super) struct TypedRoute<T, F> {
    forward: std::sync::Arc<F>,
    _synapse: PhantomData<fn() -> T>,
}

impl<T, F> TypedRoute<T, F> {
    pub(super) fn new(forward: F) -> Self {
        TypedRoute {
            forward: std::sync::Arc::new(forward),
            _synapse: PhantomData,
        }
    }
}

impl<T: SynapseFields, F: Forward<T>> Route for TypedRoute<T, F> {
    fn call(
        &self,
        body: Bytes,
        claimed_hash: Option<&str>,
        caller: Caller,
        started: Instant,
    ) -> BoxFuture<'static, Result<Reply, RouteError>> {
        // An empty body is a synapse with every field at its default.
        let parsed: Result<Synapse<T>, _> = if body.iter().all(u8::is_ascii_whitespace) {
            Ok(Synapse::new(T::default()))
        } else {
            serde_json::from_slice(&body)
        };
        let synapse = match parsed {
            Ok(synapse) => synapse,
            Err(error) => {
                return Box::pin(async move {
                    Err(RouteError::Internal(format!(
                        "invalid {} body: {error}",
                        T::NAME
                    )))
                })
            }
        };
        let expected = hash_of(&synapse);
        if let Some(claimed) = claimed_hash {
            if claimed != expected {
                let detail = format!("body hash mismatch: header {claimed}, body {expected}");
                return Box::pin(async move { Err(RouteError::Internal(detail)) });
            }
        }
        let forward = self.forward.clone();
        Box::pin(async move {
            let mut reply = forward.forward(synapse, caller).await;
            reply.axon.status_code = Some(200);
            reply.axon.status_message = Some("Success".to_owned());
            reply.axon.process_time = Some(started.elapsed().as_secs_f64());
            reply.computed_body_hash = String::new();
            let json = serde_json::to_vec(&reply)
                .map_err(|e| RouteError::Internal(format!("response did not serialise: {e}")))?;
            let hash = hash_of(&reply);
            Ok((json, reply.to_headers(&hash)))
        })
    }
}
