//! The dendrite: signs synapses with our hotkey and calls axons, like the Python dendrite.
//!
//! One dendrite has one uuid and hands out strictly increasing nanosecond nonces
//! (`max(now, last + 1)`), even to concurrent calls, because an axon refuses any nonce not
//! above the last one it saw from our (hotkey, uuid). For the same reason calls to one axon are
//! serialised: two concurrent requests could reach it out of nonce order, and the later-arriving
//! lower nonce would be refused. Calls to different axons run in parallel. Connections are
//! pooled. Every call has a
//! deadline, and every transport failure becomes the status code the Python dendrite reports
//! (`bittensor-wire.md` §4.5), so callers treat our replies and Python's alike.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::CONTENT_TYPE;
use hyper::{Method, Request};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::keys::Keypair;
use crate::protocol::{
    body_hash, signed_message, RequestHeaders, Synapse, SynapseFields, TerminalInfo, WIRE_VERSION,
};

/// Largest response body we read.
const MAX_RESPONSE_BYTES: usize = 8 << 20;

/// How long an idle pooled connection may be reused (see [`Dendrite::new`]).
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(4);

/// An axon to call: where it listens and which hotkey it answers as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub addr: SocketAddr,
    pub hotkey: String,
}

/// The outcome of one call. `synapse` is the axon's reply on success and our own request
/// (with the failure recorded in `axon.status_code`/`status_message`) otherwise, so its
/// payload holds the class defaults, which SN27 code reads as "no response".
#[derive(Debug, Clone)]
pub struct Reply<T> {
    pub synapse: Synapse<T>,
    pub status_code: u16,
    pub status_message: String,
    pub elapsed: Duration,
}

impl<T> Reply<T> {
    pub fn is_success(&self) -> bool {
        self.status_code == 200
    }
}

/// A signing HTTP client for axons.
pub struct Dendrite {
    keypair: Keypair,
    hotkey_ss58: String,
    uuid: String,
    last_nonce: AtomicU64,
    client: Client<HttpConnector, Full<Bytes>>,
    /// One lock per axon address, held for the whole of a call to it.
    in_order: std::sync::Mutex<HashMap<SocketAddr, Arc<tokio::sync::Mutex<()>>>>,
}

impl Dendrite {
    pub fn new(keypair: Keypair) -> Arc<Self> {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(10)));
        // The idle timeout only takes effect with a pool timer. It is shorter than any axon
        // keeps an idle connection open (uvicorn's 5 s keep-alive under the Python axon; ours
        // closes after the 10 s header read timeout): a connection reused just as the miner
        // closes it fails the call ("connection closed before message completed").
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_max_idle_per_host(32)
            .build(connector);
        Arc::new(Dendrite {
            hotkey_ss58: keypair.ss58(),
            keypair,
            uuid: uuid::Uuid::new_v4().to_string(),
            last_nonce: AtomicU64::new(0),
            client,
            in_order: std::sync::Mutex::new(HashMap::new()),
        })
    }

    pub fn hotkey(&self) -> &str {
        &self.hotkey_ss58
    }

    pub fn uuid(&self) -> &str {
        &self.uuid
    }

    /// The next nonce: the current time in nanoseconds, or one more than the last nonce if the
    /// clock has not moved past it.
    pub fn next_nonce(&self) -> u64 {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let mut last = self.last_nonce.load(Ordering::Relaxed);
        loop {
            let next = now.max(last + 1);
            match self.last_nonce.compare_exchange_weak(
                last,
                next,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return next,
                Err(actual) => last = actual,
            }
        }
    }

    /// The signed synapse and its body hash for a call to `target` with `nonce`: what
    /// [`Dendrite::call`] sends. Public so that tests can send exact (e.g. replayed) requests.
    pub fn prepare<T: SynapseFields>(
        &self,
        target: &Target,
        fields: T,
        timeout: Duration,
        nonce: u64,
    ) -> (Synapse<T>, String) {
        let mut synapse = Synapse::new(fields);
        synapse.timeout = timeout.as_secs_f64();
        synapse.axon = TerminalInfo {
            ip: Some(target.addr.ip().to_string()),
            port: Some(i64::from(target.addr.port())),
            hotkey: Some(target.hotkey.clone()),
            ..TerminalInfo::default()
        };
        let hash = body_hash(&synapse.fields_json(), T::HASH_FIELDS);
        let message = signed_message(nonce, &self.hotkey_ss58, &target.hotkey, &self.uuid, &hash);
        synapse.dendrite = TerminalInfo {
            ip: Some("0.0.0.0".into()),
            version: Some(WIRE_VERSION as i64),
            nonce: Some(nonce),
            uuid: Some(self.uuid.clone()),
            hotkey: Some(self.hotkey_ss58.clone()),
            signature: Some(format!(
                "0x{}",
                hex::encode(self.keypair.sign(message.as_bytes()))
            )),
            ..TerminalInfo::default()
        };
        (synapse, hash)
    }

    /// Calls one axon with `fields`, waiting at most `timeout` in all.
    pub async fn call<T: SynapseFields>(
        &self,
        target: &Target,
        fields: T,
        timeout: Duration,
    ) -> Reply<T> {
        let started = Instant::now();
        let lock = self
            .in_order
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(target.addr)
            .or_default()
            .clone();
        // The deadline covers waiting for an earlier call to the same axon too: the caller's
        // timeout is the whole call's, as with the Python dendrite.
        let request = Synapse::new(fields.clone());
        let outcome = tokio::time::timeout(timeout, async {
            let _in_order = lock.lock().await;
            let (synapse, hash) = self.prepare(target, fields, timeout, self.next_nonce());
            (self.send(target, &synapse, &hash).await, synapse)
        })
        .await;
        let (status_code, status_message, mut synapse) = match outcome {
            Err(_) => (
                408,
                format!("Request timeout after {} seconds", timeout.as_secs_f64()),
                request,
            ),
            Ok((Err((code, message)), sent)) => (code, message, sent),
            Ok((Ok(reply), _)) => (
                reply
                    .axon
                    .status_code
                    .and_then(|c| u16::try_from(c).ok())
                    .unwrap_or(200),
                reply
                    .axon
                    .status_message
                    .clone()
                    .unwrap_or_else(|| "Success".into()),
                reply,
            ),
        };
        synapse.axon.status_code = Some(i64::from(status_code));
        synapse.axon.status_message = Some(status_message.clone());
        synapse.dendrite.status_code = Some(i64::from(status_code));
        synapse.dendrite.status_message = Some(status_message.clone());
        synapse.dendrite.process_time = Some(started.elapsed().as_secs_f64());
        Reply {
            synapse,
            status_code,
            status_message,
            elapsed: started.elapsed(),
        }
    }

    /// Calls many axons with the same request, at most `parallel` at a time; replies come back
    /// in the order of `targets`.
    pub async fn call_many<T: SynapseFields>(
        &self,
        targets: &[Target],
        fields: T,
        timeout: Duration,
        parallel: usize,
    ) -> Vec<Reply<T>> {
        futures::stream::iter(targets)
            .map(|target| self.call(target, fields.clone(), timeout))
            .buffered(parallel.max(1))
            .collect()
            .await
    }

    /// One HTTP exchange; errors carry the status code the Python dendrite would report.
    async fn send<T: SynapseFields>(
        &self,
        target: &Target,
        synapse: &Synapse<T>,
        hash: &str,
    ) -> Result<Synapse<T>, (u16, String)> {
        let url = format!("http://{}/{}", target.addr, T::NAME);
        let body = serde_json::to_vec(synapse).map_err(|e| (422, e.to_string()))?;
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(&url)
            .header(CONTENT_TYPE, "application/json");
        for (name, value) in synapse.to_headers(hash) {
            request = request.header(name, value);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| (422, format!("request could not be built: {e}")))?;
        let response = self.client.request(request).await.map_err(|error| {
            if error.is_connect() {
                (
                    503,
                    format!("Service unavailable at {}/{}", target.addr, T::NAME),
                )
            } else {
                (503, format!("Connection to {url} failed: {error}"))
            }
        })?;
        let status = response.status().as_u16();
        let is_json = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let header_info = RequestHeaders::parse(
            response
                .headers()
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_bytes())),
        )
        .ok();
        let bytes = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(|e| (400, format!("response body could not be read: {e}")))?
            .to_bytes();
        if status != 200 {
            let message = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
            return Err((status, message));
        }
        if !is_json {
            return Err((422, "Failed to parse response".into()));
        }
        let mut reply: Synapse<T> = serde_json::from_slice(&bytes)
            .map_err(|e| (422, format!("Failed to parse response: {e}")))?;
        // Header values override the body's, as in the Python dendrite.
        if let Some(headers) = header_info {
            overlay(&mut reply.axon, headers.axon);
        }
        Ok(reply)
    }
}

fn overlay(into: &mut TerminalInfo, from: TerminalInfo) {
    macro_rules! take {
        ($($field:ident),*) => { $( if from.$field.is_some() { into.$field = from.$field; } )* };
    }
    take!(
        status_code,
        status_message,
        process_time,
        ip,
        port,
        version,
        nonce,
        uuid,
        hotkey,
        signature
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An axon at `addr` under a well-known test hotkey.
    fn target_at(addr: SocketAddr) -> Target {
        Target {
            addr,
            hotkey: "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY".into(),
        }
    }

    #[tokio::test]
    async fn nonces_increase_strictly_under_concurrency() {
        let dendrite = Dendrite::new(Keypair::generate(12).unwrap());
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let dendrite = dendrite.clone();
            tasks.push(tokio::spawn(async move {
                (0..2000).map(|_| dendrite.next_nonce()).collect::<Vec<_>>()
            }));
        }
        let mut all = Vec::new();
        for task in tasks {
            let nonces = task.await.unwrap();
            assert!(nonces.windows(2).all(|w| w[0] < w[1]));
            all.extend(nonces);
        }
        let count = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), count, "no nonce handed out twice");
    }

    #[tokio::test]
    async fn unreachable_axon_is_503_and_silence_is_408() {
        let dendrite = Dendrite::new(Keypair::generate(12).unwrap());
        // A port nothing listens on.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = closed.local_addr().unwrap();
        drop(closed);
        let target = target_at(addr);
        let reply = dendrite
            .call(&target, crate::protocol::Ping {}, Duration::from_secs(5))
            .await;
        assert_eq!(reply.status_code, 503, "{}", reply.status_message);

        // A listener that accepts and never answers.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = target_at(silent.local_addr().unwrap());
        let holder = tokio::spawn(async move {
            let _connection = silent.accept().await;
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        let reply = dendrite
            .call(
                &target,
                crate::protocol::Allocate::default(),
                Duration::from_millis(300),
            )
            .await;
        assert_eq!(reply.status_code, 408);
        assert!(reply.synapse.fields.output.is_empty());
        holder.abort();
    }

    /// A hostile axon: it answers at once with a chunked 200 and then sends its body in chunks
    /// of `chunk` bytes every `pause`, forever.
    async fn streaming_axon(
        chunk: usize,
        pause: Duration,
    ) -> (Target, tokio::task::JoinHandle<()>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = target_at(listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 4096];
            let _ = socket.read(&mut request).await;
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                        transfer-encoding: chunked\r\n\r\n";
            if socket.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let mut frame = format!("{chunk:x}\r\n").into_bytes();
            frame.extend(std::iter::repeat_n(b' ', chunk));
            frame.extend(b"\r\n");
            loop {
                if socket.write_all(&frame).await.is_err() {
                    return;
                }
                if !pause.is_zero() {
                    tokio::time::sleep(pause).await;
                }
            }
        });
        (target, task)
    }

    #[tokio::test]
    async fn an_axon_answering_byte_by_byte_is_cut_off_at_the_call_timeout() {
        let dendrite = Dendrite::new(Keypair::generate(12).unwrap());
        let (target, axon) = streaming_axon(1, Duration::from_millis(20)).await;
        let timeout = Duration::from_millis(800);
        let reply = dendrite
            .call(&target, crate::protocol::Allocate::default(), timeout)
            .await;
        axon.abort();
        assert_eq!(reply.status_code, 408, "{}", reply.status_message);
        assert!(reply.synapse.fields.output.is_empty());
        // The deadline is the whole call's: headers arriving at once do not extend it. The
        // margin only absorbs scheduling on a loaded host; the trickle itself never ends.
        assert!(
            reply.elapsed < timeout + Duration::from_secs(5),
            "the call took {:?}",
            reply.elapsed
        );
    }

    #[tokio::test]
    async fn an_axon_streaming_without_end_is_refused_at_the_body_limit() {
        let dendrite = Dendrite::new(Keypair::generate(12).unwrap());
        let (target, axon) = streaming_axon(64 << 10, Duration::ZERO).await;
        let reply = dendrite
            .call(
                &target,
                crate::protocol::Allocate::default(),
                Duration::from_secs(60),
            )
            .await;
        axon.abort();
        // Refused when the body passes MAX_RESPONSE_BYTES, long before the timeout: memory per
        // call is bounded by the limit, not by what the miner sends.
        assert_eq!(reply.status_code, 400, "{}", reply.status_message);
        assert!(
            reply.status_message.contains("length limit"),
            "{}",
            reply.status_message
        );
        assert!(reply.synapse.fields.output.is_empty());
    }
}
