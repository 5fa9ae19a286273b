//! What the fuzz targets share: a scripted HTTP peer for the clients whose decoding is only
//! reachable through a real exchange (the dendrite, the W&B client).
//!
//! The peer listens on `127.0.0.1`, and answers each connection with the next scripted
//! response, written verbatim after the request has been read, then closes it; once the
//! script is used up it closes connections without a word. It runs on the caller's tokio
//! runtime, so it makes progress while the client under test is driven with `block_on`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Largest request the peer reads before answering (the clients send a few kilobytes).
const MAX_REQUEST: usize = 1 << 20;
/// How long the peer waits for a request before answering anyway.
const READ_TIMEOUT: Duration = Duration::from_secs(2);

/// A local HTTP server that answers with scripted bytes.
pub struct ScriptedPeer {
    addr: SocketAddr,
    script: Arc<Mutex<VecDeque<Vec<u8>>>>,
}

impl ScriptedPeer {
    /// A current-thread runtime and a peer started on it, for a target's harness.
    pub fn with_runtime() -> (tokio::runtime::Runtime, ScriptedPeer) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let peer = runtime
            .block_on(ScriptedPeer::start())
            .expect("a local port to listen on");
        (runtime, peer)
    }

    /// Binds an ephemeral port and serves on the current tokio runtime.
    pub async fn start() -> std::io::Result<ScriptedPeer> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let script: Arc<Mutex<VecDeque<Vec<u8>>>> = Arc::default();
        let queue = script.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(answer(stream, queue.clone()));
            }
        });
        Ok(ScriptedPeer { addr, script })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces the script: the next connections get these responses, in order.
    pub fn script(&self, responses: impl IntoIterator<Item = Vec<u8>>) {
        let mut script = self.script.lock().unwrap_or_else(|e| e.into_inner());
        script.clear();
        script.extend(responses);
    }
}

/// A complete HTTP/1.1 `200` response carrying `body` as JSON.
pub fn json_response(body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

async fn answer(mut stream: TcpStream, script: Arc<Mutex<VecDeque<Vec<u8>>>>) {
    // Reading the whole request first keeps the close orderly: closing with unread bytes
    // would reset the connection and could discard the answer.
    let _ = tokio::time::timeout(READ_TIMEOUT, read_request(&mut stream)).await;
    let next = script.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
    if let Some(response) = next {
        let _ = stream.write_all(&response).await;
    }
    let _ = stream.shutdown().await;
}

/// Reads one request: the head, then `content-length` bytes of body.
async fn read_request(stream: &mut TcpStream) -> std::io::Result<()> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if buffer.len() >= end + 4 + length.min(MAX_REQUEST) {
                return Ok(());
            }
        }
        if buffer.len() > MAX_REQUEST {
            return Ok(());
        }
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Ok(());
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
}
