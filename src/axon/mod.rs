//! The axon: the HTTP server validators call, wire-compatible with the Python axon.
//!
//! Each request goes through the reference order (`bittensor-wire.md` §4.2): route by path →
//! parse the synapse headers → access policy (blacklist) → verification (nonce, signature) →
//! priority gate → body (size- and time-bounded) → body-hash check → the route's forward
//! function → JSON response echoing the synapse with `axon.status_code = 200`.
//!
//! Hardening: capped header size and count, header and body read timeouts, a body size cap, a
//! connection cap and a bound on queued requests; malformed input of any kind yields an HTTP
//! error, never a panic.

mod access;
mod gate;
mod nonce;
mod route;
mod verifier;

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Body;
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

use crate::backoff::Backoff;
use crate::keys::PublicKey;
use crate::protocol::{signed_message, Ping, RequestHeaders, SynapseFields};

pub use access::{AccessPolicy, Admission, OpenAccess, RequestObserver};
pub use gate::PriorityGate;
pub use nonce::NonceTable;
pub use route::{Caller, Forward};
pub use verifier::SignatureVerifier;

use route::{Route, RouteError, TypedRoute};

/// Resource bounds of one axon.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Buffer for the request line and headers (hyper's minimum is 8 KiB).
    pub max_header_bytes: usize,
    pub max_headers: usize,
    /// Time a client has to send its headers once connected (slow clients are dropped).
    pub header_read_timeout: Duration,
    /// Time a client has to send its body once the headers are in.
    pub body_read_timeout: Duration,
    /// Open connections; further clients wait in the kernel's accept queue.
    pub max_connections: usize,
    /// Requests whose forward function runs at once.
    pub workers: usize,
    /// Requests waiting for a worker before new ones get 503.
    pub max_queued: usize,
    /// Endpoints (hotkey, uuid) whose last nonce is remembered.
    pub nonce_endpoints: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 1 << 20,
            max_header_bytes: 16 * 1024,
            max_headers: 64,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            max_connections: 1024,
            workers: 16,
            max_queued: 1024,
            nonce_endpoints: 100_000,
        }
    }
}

/// The server: routes, policy and the state verification needs.
pub struct Axon {
    hotkey_ss58: String,
    routes: HashMap<&'static str, Arc<dyn Route>>,
    policy: Arc<dyn AccessPolicy>,
    limits: Limits,
    nonces: Mutex<NonceTable>,
    gate: Arc<PriorityGate>,
    /// Started on first use, on the runtime that serves.
    verifier: OnceLock<SignatureVerifier>,
    observer: Option<Arc<dyn RequestObserver>>,
}

/// A refusal on its way to becoming an HTTP error response.
struct Refusal {
    status: StatusCode,
    message: String,
}

impl Refusal {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Refusal {
            status,
            message: message.into(),
        }
    }

    /// A 500 whose details stay in our log, as the Python axon answers internal errors.
    fn internal(detail: &str) -> Self {
        let id = uuid::Uuid::new_v4();
        tracing::debug!(%id, detail, "request failed");
        Refusal::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("Internal Server Error #{id}"),
        )
    }
}

impl Axon {
    /// An axon that answers as `hotkey`; only the `/Synapse` ping is attached.
    pub fn new(hotkey: PublicKey, policy: Arc<dyn AccessPolicy>, limits: Limits) -> Self {
        let mut axon = Axon {
            hotkey_ss58: hotkey.to_ss58(),
            routes: HashMap::new(),
            policy,
            nonces: Mutex::new(NonceTable::new(limits.nonce_endpoints)),
            gate: PriorityGate::new(limits.workers),
            verifier: OnceLock::new(),
            observer: None,
            limits,
        };
        axon.routes.insert(
            Ping::NAME,
            Arc::new(TypedRoute::<Ping, _>::new(
                |synapse, _caller: Caller| async move { synapse },
            )),
        );
        axon
    }

    /// Tells `observer` about every answered request.
    pub fn observe(mut self, observer: Arc<dyn RequestObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Serves synapse `T` at `/{T::NAME}` with `forward`.
    pub fn attach<T: SynapseFields, F: Forward<T>>(mut self, forward: F) -> Self {
        self.routes
            .insert(T::NAME, Arc::new(TypedRoute::<T, F>::new(forward)));
        self
    }

    /// Accepts connections on `listener` until `shutdown` resolves, then lets open connections
    /// finish their current request.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        let connections = Arc::new(Semaphore::new(self.limits.max_connections));
        let (stop_tx, stop_rx) = watch::channel(false);
        // Out of file descriptors and the like: back off instead of spinning, and say so once.
        let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(5));
        tokio::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                _ = &mut shutdown => break,
                permit = connections.clone().acquire_owned() => permit.expect("never closed"),
            };
            let (stream, peer) = tokio::select! {
                _ = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => {
                        let failures = backoff.succeeded();
                        if failures > 0 {
                            tracing::info!(failures, "accepting connections again");
                        }
                        accepted
                    }
                    Err(error) => {
                        let retry = backoff.failed();
                        if retry.report {
                            tracing::warn!(%error, failures = retry.failures, next_try = ?retry.delay,
                                "accepting a connection failed; backing off");
                        }
                        tokio::select! {
                            _ = &mut shutdown => break,
                            _ = tokio::time::sleep(retry.delay) => continue,
                        }
                    }
                },
            };
            let _ = stream.set_nodelay(true);
            let axon = self.clone();
            let limits = self.limits.clone();
            let mut stop = stop_rx.clone();
            tokio::spawn(async move {
                let _permit = permit;
                let service = hyper::service::service_fn(move |request| {
                    let axon = axon.clone();
                    async move { Ok::<_, Infallible>(axon.handle(request, Some(peer)).await) }
                });
                let mut builder = hyper::server::conn::http1::Builder::new();
                builder
                    .timer(TokioTimer::new())
                    .header_read_timeout(limits.header_read_timeout)
                    .max_buf_size(limits.max_header_bytes.max(8192))
                    .max_headers(limits.max_headers);
                let connection = builder.serve_connection(TokioIo::new(stream), service);
                tokio::pin!(connection);
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(error) = result {
                            tracing::debug!(%peer, %error, "connection ended with an error");
                        }
                    }
                    _ = stop.changed() => {
                        connection.as_mut().graceful_shutdown();
                        let _ = connection.await;
                    }
                }
            });
        }
        let _ = stop_tx.send(true);
        // Wait for open connections to finish (their permits come back), bounded.
        let all = self.limits.max_connections as u32;
        let _ = tokio::time::timeout(Duration::from_secs(10), connections.acquire_many(all)).await;
        Ok(())
    }

    /// Handles one request; public so that tests and benchmarks can drive it without sockets.
    pub async fn handle<B>(
        &self,
        request: Request<B>,
        peer: Option<SocketAddr>,
    ) -> Response<Full<Bytes>>
    where
        B: Body<Data = Bytes> + Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let started = Instant::now();
        let path = request.uri().path().trim_start_matches('/').to_owned();
        let headers = match RequestHeaders::parse(
            request
                .headers()
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_bytes())),
        ) {
            Ok(headers) => headers,
            Err(error) => {
                return self.error(
                    Refusal::internal(&error.to_string()),
                    &RequestHeaders::default(),
                    &path,
                )
            }
        };
        let caller = headers.dendrite.hotkey.as_deref();
        match self.process(request, &path, &headers, started).await {
            Ok(response) => {
                if let Some(observer) = &self.observer {
                    observer.answered(&path, response.status().as_u16(), caller, None);
                }
                response
            }
            Err(refusal) => {
                tracing::debug!(
                    ?peer,
                    synapse = %path,
                    caller = caller.unwrap_or("-"),
                    status = refusal.status.as_u16(),
                    message = %refusal.message,
                    "request refused"
                );
                if let Some(observer) = &self.observer {
                    observer.answered(
                        &path,
                        refusal.status.as_u16(),
                        caller,
                        Some(&refusal.message),
                    );
                }
                self.error(refusal, &headers, &path)
            }
        }
    }

    async fn process<B>(
        &self,
        request: Request<B>,
        path: &str,
        headers: &RequestHeaders,
        started: Instant,
    ) -> Result<Response<Full<Bytes>>, Refusal>
    where
        B: Body<Data = Bytes> + Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let route = self.routes.get(path).cloned().ok_or_else(|| {
            let mut names: Vec<&str> = self.routes.keys().copied().collect();
            names.sort_by_key(|name| (*name != Ping::NAME, *name));
            let listed: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
            Refusal::new(
                StatusCode::NOT_FOUND,
                format!(
                    "Synapse name '{path}' not found. Available synapses [{}]",
                    listed.join(", ")
                ),
            )
        })?;

        let not_verified = |reason: &str| {
            Refusal::new(
                StatusCode::UNAUTHORIZED,
                format!("Not Verified with error: {reason}"),
            )
        };
        let caller_ss58 = headers
            .dendrite
            .hotkey
            .as_deref()
            .ok_or_else(|| not_verified("Missing dendrite hotkey"))?;
        let caller = PublicKey::from_ss58(caller_ss58)
            .map_err(|_| not_verified(&format!("Invalid dendrite hotkey {caller_ss58:?}")))?;

        // Blacklist first, on header claims, as the Python axon does.
        let admission = if path == Ping::NAME {
            Admission {
                priority: 0.0,
                neuron: None,
            }
        } else {
            self.policy.admit(&caller, path).map_err(|reason| {
                Refusal::new(
                    StatusCode::FORBIDDEN,
                    format!("Forbidden. Key is blacklisted: {reason}."),
                )
            })?
        };

        self.verify(headers, caller_ss58, &caller)
            .await
            .map_err(|reason| not_verified(&reason))?;

        if self.gate.queued() >= self.limits.max_queued {
            return Err(Refusal::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Service busy: too many queued requests",
            ));
        }
        let _slot = self.gate.enter(admission.priority).await;

        let body = self.read_body(request.into_body()).await?;
        let caller = Caller {
            hotkey: caller,
            neuron: admission.neuron,
            headers: headers.clone(),
        };
        let (json, response_headers) = route
            .call(body, headers.computed_body_hash.as_deref(), caller, started)
            .await
            .map_err(|error| match error {
                RouteError::Internal(detail) => Refusal::internal(&detail),
            })?;
        let mut response = Response::new(Full::new(Bytes::from(json)));
        let map = response.headers_mut();
        map.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for (name, value) in response_headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value),
            ) {
                map.insert(name, value);
            }
        }
        Ok(response)
    }

    /// The Python axon's default verification: nonce rules, then the signature, then the
    /// nonce is recorded.
    async fn verify(
        &self,
        headers: &RequestHeaders,
        caller_ss58: &str,
        caller: &PublicKey,
    ) -> Result<(), String> {
        let dendrite = &headers.dendrite;
        let nonce = dendrite.nonce.ok_or("Missing Nonce")?;
        let uuid = dendrite.uuid.as_deref().unwrap_or("");
        let endpoint = format!("{caller_ss58}:{uuid}");
        let now_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        self.lock_nonces()
            .check(&endpoint, nonce, dendrite.version, headers.timeout, now_ns)?;
        let signature = dendrite.signature.as_deref().ok_or("Missing Signature")?;
        let body_hash = headers.computed_body_hash.as_deref().unwrap_or("");
        let message = signed_message(nonce, caller_ss58, &self.hotkey_ss58, uuid, body_hash);
        let verifier = self.verifier.get_or_init(SignatureVerifier::spawn);
        if !verifier.verify(*caller, &message, signature).await {
            return Err(format!("Signature mismatch with {message} and {signature}"));
        }
        self.lock_nonces().record(&endpoint, nonce)
    }

    async fn read_body<B>(&self, body: B) -> Result<Bytes, Refusal>
    where
        B: Body<Data = Bytes> + Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let limited = Limited::new(body, self.limits.max_body_bytes);
        match tokio::time::timeout(self.limits.body_read_timeout, limited.collect()).await {
            Err(_) => Err(Refusal::new(
                StatusCode::REQUEST_TIMEOUT,
                "Request body not received in time",
            )),
            Ok(Err(error)) => {
                if error
                    .downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    Err(Refusal::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        format!(
                            "Request body larger than {} bytes",
                            self.limits.max_body_bytes
                        ),
                    ))
                } else {
                    Err(Refusal::new(
                        StatusCode::BAD_REQUEST,
                        format!("Request body could not be read: {error}"),
                    ))
                }
            }
            Ok(Ok(collected)) => Ok(collected.to_bytes()),
        }
    }

    fn error(
        &self,
        refusal: Refusal,
        headers: &RequestHeaders,
        path: &str,
    ) -> Response<Full<Bytes>> {
        let body = serde_json::json!({ "message": refusal.message }).to_string();
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = refusal.status;
        let map = response.headers_mut();
        map.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let name = headers.name.as_deref().unwrap_or(path);
        for (key, value) in [
            ("name", name.to_owned()),
            (
                "bt_header_axon_status_code",
                refusal.status.as_u16().to_string(),
            ),
            ("bt_header_axon_status_message", refusal.message.clone()),
            ("bt_header_axon_hotkey", self.hotkey_ss58.clone()),
        ] {
            // A message with characters a header cannot carry is still in the body.
            if let Ok(value) = HeaderValue::from_str(&value) {
                map.insert(HeaderName::from_static(key), value);
            }
        }
        response
    }

    fn lock_nonces(&self) -> std::sync::MutexGuard<'_, NonceTable> {
        self.nonces.lock().unwrap_or_else(|e| e.into_inner())
    }
}
