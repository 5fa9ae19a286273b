//! W&B (Weights & Biases) through its HTTP API, the side channel SN27 v2.x nodes share state
//! over (`sn27-protocol.md` §11, `sn27-v2.md` §5.2): runs created or updated with the GraphQL
//! `UpsertBucket` mutation the W&B client sends, kept running by posts to the run's
//! `file_stream`, and read with the `Runs` and `Run` queries of W&B's public API, with the
//! MongoDB-style filters SN27 validators use.
//!
//! A run's config travels in W&B's stored form, `{"key": {"value": …, "desc": null}}`, as a
//! JSON string; [`RunRecord::config`] holds the values only, as `wandb.Api()` shows them.
//!
//! Every call has a deadline and a bounded answer; the API key goes in the `Authorization`
//! header (`api:<key>`, HTTP basic, as the W&B client sends it) and never into an error or a
//! log line. `https://` is verified against the system's trust store.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use serde_json::{json, Map, Value};

/// How long one call may take, connection included.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Largest answer read (a page of runs with their configs).
const MAX_ANSWER: usize = 32 << 20;

/// Runs asked for per page, and the most pages followed.
const PAGE: u32 = 100;
const MAX_PAGES: usize = 200;

/// Why a W&B call failed. The API key never appears here.
#[derive(Debug, thiserror::Error)]
pub enum WandbError {
    #[error("{url:?} is not a W&B address: {reason}")]
    Url { url: String, reason: String },
    #[error("W&B at {base}: {reason}")]
    Transport { base: String, reason: String },
    #[error("W&B at {base} refused the API key (HTTP {status})")]
    Unauthorized { base: String, status: u16 },
    #[error("W&B at {base} answered {what} with HTTP {status}: {body}")]
    Status {
        base: String,
        what: String,
        status: u16,
        body: String,
    },
    #[error("W&B at {base}: {operation}: {message}")]
    Refused {
        base: String,
        operation: &'static str,
        message: String,
    },
    #[error("W&B at {base}: {operation}: unexpected answer: {reason}")]
    Answer {
        base: String,
        operation: &'static str,
        reason: String,
    },
}

/// Where a run lives: `entity/project/name`, `name` being the run id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunPath {
    pub entity: String,
    pub project: String,
    pub name: String,
}

impl std::fmt::Display for RunPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.entity, self.project, self.name)
    }
}

/// A run as W&B's public API returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    /// The run id (what signatures cover).
    pub name: String,
    pub display_name: Option<String>,
    /// `running`, `finished`, `crashed`, `failed`…
    pub state: Option<String>,
    /// The config's values (W&B's internal `_wandb` key left out).
    pub config: Map<String, Value>,
}

#[derive(Debug)]
struct Endpoint {
    tls: bool,
    host: String,
    port: u16,
    /// Prefix of every path, without a trailing `/`.
    base_path: String,
}

/// A W&B API client for one server and key.
pub struct WandbClient {
    base: String,
    endpoint: Endpoint,
    authorization: String,
    tls: Option<tokio_rustls::TlsConnector>,
}

impl std::fmt::Debug for WandbClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WandbClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// `http[s]://host[:port][/prefix]`, refused by name otherwise.
fn endpoint(url: &str) -> Result<Endpoint, String> {
    let uri: hyper::Uri = url.parse().map_err(|e| format!("not a URL ({e})"))?;
    let tls = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        Some(other) => return Err(format!("{other}:// is not http:// or https://")),
        None => return Err("no scheme: write https://host or http://host:port".into()),
    };
    let host = uri
        .host()
        .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
        .filter(|h| !h.is_empty())
        .ok_or("no host")?
        .to_string();
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    if uri.query().is_some() {
        return Err("a query string has no place in the API address".into());
    }
    Ok(Endpoint {
        tls,
        host,
        port,
        base_path: uri.path().trim_end_matches('/').to_string(),
    })
}

/// W&B's stored config form of `values`.
pub fn stored_config(values: &Map<String, Value>) -> String {
    let stored: Map<String, Value> = values
        .iter()
        .map(|(key, value)| (key.clone(), json!({"value": value, "desc": null})))
        .collect();
    Value::Object(stored).to_string()
}

/// The values of a stored config (a JSON string, or already an object), as `wandb.Api()`
/// reads them: `{"value": v}` entries unwrapped, W&B's internal keys left out.
fn config_values(stored: &Value) -> Result<Map<String, Value>, String> {
    let parsed;
    let object = match stored {
        Value::Null => return Ok(Map::new()),
        Value::String(text) if text.is_empty() => return Ok(Map::new()),
        Value::String(text) => {
            parsed = serde_json::from_str::<Value>(text).map_err(|e| format!("config: {e}"))?;
            &parsed
        }
        other => other,
    };
    let Value::Object(entries) = object else {
        return Err("config is not an object".into());
    };
    Ok(entries
        .iter()
        .filter(|(key, _)| !matches!(key.as_str(), "_wandb" | "wandb_version"))
        .map(|(key, value)| {
            let value = match value {
                Value::Object(wrapped) if wrapped.contains_key("value") => wrapped["value"].clone(),
                other => other.clone(),
            };
            (key.clone(), value)
        })
        .collect())
}

fn run_record(node: &Value) -> Result<RunRecord, String> {
    let name = node["name"]
        .as_str()
        .filter(|n| !n.is_empty())
        .ok_or("a run without a name")?
        .to_string();
    Ok(RunRecord {
        display_name: node["displayName"].as_str().map(str::to_string),
        state: node["state"].as_str().map(str::to_string),
        config: config_values(&node["config"]).map_err(|e| format!("run {name}: {e}"))?,
        name,
    })
}

const UPSERT_RUN: &str = "mutation UpsertBucket($id: String, $name: String, $project: String, \
$entity: String, $displayName: String, $config: JSONString, $host: String, $program: String) {
  upsertBucket(input: {id: $id, name: $name, modelName: $project, entityName: $entity, \
displayName: $displayName, config: $config, host: $host, jobProgram: $program}) {
    bucket { id name displayName config project { id name entity { id name } } }
    inserted
  }
}";

const RUNS: &str = "query Runs($project: String!, $entity: String!, $cursor: String, \
$perPage: Int = 50, $order: String, $filters: JSONString) {
  project(name: $project, entityName: $entity) {
    runs(filters: $filters, after: $cursor, first: $perPage, order: $order) {
      edges { node { id name displayName state config } cursor }
      pageInfo { endCursor hasNextPage }
    }
  }
}";

const RUN: &str = "query Run($project: String!, $entity: String!, $name: String!) {
  project(name: $project, entityName: $entity) {
    run(name: $name) { id name displayName state config }
  }
}";

impl WandbClient {
    /// A client for the API at `base_url` (e.g. `https://api.wandb.ai`) with `api_key`.
    pub fn new(base_url: &str, api_key: &str) -> Result<WandbClient, WandbError> {
        let endpoint = endpoint(base_url).map_err(|reason| WandbError::Url {
            url: base_url.to_string(),
            reason,
        })?;
        let tls = if endpoint.tls {
            use rustls_platform_verifier::BuilderVerifierExt;
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| WandbError::Url {
                    url: base_url.to_string(),
                    reason: format!("TLS: {e}"),
                })?
                .with_platform_verifier()
                .with_no_client_auth();
            Some(tokio_rustls::TlsConnector::from(Arc::new(config)))
        } else {
            None
        };
        let credentials =
            base64::engine::general_purpose::STANDARD.encode(format!("api:{api_key}"));
        Ok(WandbClient {
            base: base_url.trim_end_matches('/').to_string(),
            endpoint,
            authorization: format!("Basic {credentials}"),
            tls,
        })
    }

    /// The API address, for messages.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn transport(&self, reason: impl std::fmt::Display) -> WandbError {
        WandbError::Transport {
            base: self.base.clone(),
            reason: reason.to_string(),
        }
    }

    /// POSTs `body` (JSON) to `path` under the base and returns the `200` answer's JSON.
    async fn post(&self, path: &str, what: &str, body: &Value) -> Result<Value, WandbError> {
        match tokio::time::timeout(TIMEOUT, self.post_inner(path, what, body)).await {
            Ok(answer) => answer,
            Err(_) => {
                Err(self.transport(format!("{what}: no answer within {} s", TIMEOUT.as_secs())))
            }
        }
    }

    async fn post_inner(&self, path: &str, what: &str, body: &Value) -> Result<Value, WandbError> {
        let e = &self.endpoint;
        let stream = tokio::net::TcpStream::connect((e.host.as_str(), e.port))
            .await
            .map_err(|err| self.transport(format!("connecting to {}:{}: {err}", e.host, e.port)))?;
        let request = hyper::Request::post(format!("{}{path}", e.base_path))
            .header(
                hyper::header::HOST,
                if e.host.contains(':') {
                    format!("[{}]:{}", e.host, e.port)
                } else {
                    format!("{}:{}", e.host, e.port)
                },
            )
            .header(hyper::header::AUTHORIZATION, &self.authorization)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::ACCEPT, "application/json")
            .header(
                hyper::header::USER_AGENT,
                concat!("sn27/", env!("CARGO_PKG_VERSION")),
            )
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|err| self.transport(err))?;
        let response = match &self.tls {
            Some(tls) => {
                let name = rustls::pki_types::ServerName::try_from(e.host.clone())
                    .map_err(|err| self.transport(format!("{}: {err}", e.host)))?;
                let stream = tls
                    .connect(name, stream)
                    .await
                    .map_err(|err| self.transport(format!("TLS with {}: {err}", e.host)))?;
                self.send(stream, request).await?
            }
            None => self.send(stream, request).await?,
        };
        let status = response.status();
        let bytes = Limited::new(response.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|err| self.transport(format!("{what}: reading the answer: {err}")))?
            .to_bytes();
        if status == hyper::StatusCode::UNAUTHORIZED || status == hyper::StatusCode::FORBIDDEN {
            return Err(WandbError::Unauthorized {
                base: self.base.clone(),
                status: status.as_u16(),
            });
        }
        if !status.is_success() {
            let text = String::from_utf8_lossy(&bytes);
            return Err(WandbError::Status {
                base: self.base.clone(),
                what: what.to_string(),
                status: status.as_u16(),
                body: text.chars().take(200).collect(),
            });
        }
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|err| WandbError::Status {
            base: self.base.clone(),
            what: what.to_string(),
            status: status.as_u16(),
            body: format!("not JSON ({err})"),
        })
    }

    async fn send<S>(
        &self,
        stream: S,
        request: hyper::Request<Full<Bytes>>,
    ) -> Result<hyper::Response<hyper::body::Incoming>, WandbError>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|err| self.transport(format!("HTTP: {err}")))?;
        let connection = tokio::spawn(connection);
        let response = sender
            .send_request(request)
            .await
            .map_err(|err| self.transport(format!("HTTP: {err}")));
        // The body is read after this returns; the connection task ends with it.
        drop(connection);
        response
    }

    /// Runs a GraphQL `operation` and returns its `data`.
    async fn graphql(
        &self,
        operation: &'static str,
        query: &str,
        variables: Value,
    ) -> Result<Value, WandbError> {
        let answer = self
            .post(
                "/graphql",
                operation,
                &json!({"query": query, "variables": variables, "operationName": operation}),
            )
            .await?;
        if let Some(errors) = answer.get("errors").and_then(Value::as_array) {
            if !errors.is_empty() {
                let message = errors
                    .iter()
                    .map(|e| {
                        e["message"]
                            .as_str()
                            .unwrap_or("an error without a message")
                    })
                    .collect::<Vec<_>>()
                    .join("; ");
                return Err(WandbError::Refused {
                    base: self.base.clone(),
                    operation,
                    message,
                });
            }
        }
        match answer.get("data") {
            Some(data) if data.is_object() => Ok(data.clone()),
            _ => Err(WandbError::Answer {
                base: self.base.clone(),
                operation,
                reason: "no data".into(),
            }),
        }
    }

    fn answer_error(&self, operation: &'static str, reason: impl Into<String>) -> WandbError {
        WandbError::Answer {
            base: self.base.clone(),
            operation,
            reason: reason.into(),
        }
    }

    /// Creates the run `run`, or updates it: its display name and its whole config (W&B
    /// replaces the stored config with the one sent, as the W&B client's updates do).
    pub async fn upsert_run(
        &self,
        run: &RunPath,
        display_name: &str,
        config: &Map<String, Value>,
        host: &str,
    ) -> Result<(), WandbError> {
        let data = self
            .graphql(
                "UpsertBucket",
                UPSERT_RUN,
                json!({
                    "name": run.name,
                    "project": run.project,
                    "entity": run.entity,
                    "displayName": display_name,
                    "config": stored_config(config),
                    "host": host,
                    "program": "sn27",
                }),
            )
            .await?;
        let bucket = &data["upsertBucket"]["bucket"];
        match bucket["name"].as_str() {
            Some(name) if name == run.name => Ok(()),
            Some(other) => Err(self.answer_error(
                "UpsertBucket",
                format!("asked for run {} and got {other}", run.name),
            )),
            None => Err(self.answer_error("UpsertBucket", "no run in the answer")),
        }
    }

    /// Tells W&B the run is alive (the W&B client's heartbeat: an empty object posted to the
    /// run's `file_stream`); a run without one for a few minutes is no longer `running`.
    pub async fn heartbeat(&self, run: &RunPath) -> Result<(), WandbError> {
        self.file_stream(run, json!({})).await
    }

    async fn file_stream(&self, run: &RunPath, body: Value) -> Result<(), WandbError> {
        let path = format!(
            "/files/{}/{}/{}/file_stream",
            segment(&run.entity),
            segment(&run.project),
            segment(&run.name)
        );
        self.post(&path, "file_stream", &body).await.map(|_| ())
    }

    /// The runs of `entity/project` that match `filters` (W&B's MongoDB-style filter
    /// document), oldest first (the order `wandb.Api().runs` asks for), every page followed.
    pub async fn runs(
        &self,
        entity: &str,
        project: &str,
        filters: &Value,
    ) -> Result<Vec<RunRecord>, WandbError> {
        let mut out = Vec::new();
        let mut cursor = Value::Null;
        for _ in 0..MAX_PAGES {
            let data = self
                .graphql(
                    "Runs",
                    RUNS,
                    json!({
                        "project": project,
                        "entity": entity,
                        "cursor": cursor,
                        "perPage": PAGE,
                        "order": "+created_at",
                        "filters": filters.to_string(),
                    }),
                )
                .await?;
            let runs = &data["project"]["runs"];
            if data["project"].is_null() {
                return Err(self.answer_error("Runs", format!("no project {entity}/{project}")));
            }
            let edges = runs["edges"]
                .as_array()
                .ok_or_else(|| self.answer_error("Runs", "no edges"))?;
            for edge in edges {
                out.push(run_record(&edge["node"]).map_err(|e| self.answer_error("Runs", e))?);
            }
            let info = &runs["pageInfo"];
            match (info["hasNextPage"].as_bool(), info["endCursor"].as_str()) {
                (Some(true), Some(next)) if !edges.is_empty() => cursor = json!(next),
                _ => return Ok(out),
            }
        }
        Err(self.answer_error(
            "Runs",
            format!("more than {} runs match", PAGE as usize * MAX_PAGES),
        ))
    }

    /// The run at `run`, or `None` when W&B has none there.
    pub async fn run(&self, run: &RunPath) -> Result<Option<RunRecord>, WandbError> {
        let data = self
            .graphql(
                "Run",
                RUN,
                json!({"project": run.project, "entity": run.entity, "name": run.name}),
            )
            .await?;
        let node = &data["project"]["run"];
        if node.is_null() {
            return Ok(None);
        }
        run_record(node)
            .map(Some)
            .map_err(|e| self.answer_error("Run", e))
    }
}

/// A path segment with the characters a URL path cannot carry as they are escaped.
fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// A fresh run id as the W&B client makes them: 8 characters of `[a-z0-9]`.
pub fn new_run_id() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rngs::OsRng;
    (0..8)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_read_or_refused_by_name() {
        let e = endpoint("https://api.wandb.ai").unwrap();
        assert!(e.tls);
        assert_eq!(
            (e.host.as_str(), e.port, e.base_path.as_str()),
            ("api.wandb.ai", 443, "")
        );
        let e = endpoint("http://127.0.0.1:8080/prefix/").unwrap();
        assert!(!e.tls);
        assert_eq!((e.port, e.base_path.as_str()), (8080, "/prefix"));
        assert!(endpoint("ftp://x").unwrap_err().contains("ftp://"));
        assert!(endpoint("api.wandb.ai").unwrap_err().contains("scheme"));
        assert!(endpoint("http://x/?a=b").unwrap_err().contains("query"));
    }

    #[test]
    fn configs_go_out_in_the_stored_form_and_come_back_as_values() {
        let mut values = Map::new();
        values.insert("hotkey".into(), json!("5F"));
        values.insert("config".into(), json!({"netuid": 27}));
        values.insert("allocated".into(), Value::Null);
        let stored = stored_config(&values);
        let parsed: Value = serde_json::from_str(&stored).unwrap();
        assert_eq!(parsed["hotkey"], json!({"value": "5F", "desc": null}));
        assert_eq!(parsed["config"]["value"]["netuid"], 27);
        let mut with_internal: Map<String, Value> = serde_json::from_str(&stored).unwrap();
        with_internal.insert("_wandb".into(), json!({"value": {"t": 1}}));
        let back = config_values(&Value::String(Value::Object(with_internal).to_string())).unwrap();
        assert_eq!(back, values);
        assert!(config_values(&json!("[1]"))
            .unwrap_err()
            .contains("not an object"));
        assert!(config_values(&json!("{")).is_err());
        assert!(config_values(&Value::Null).unwrap().is_empty());
    }

    #[test]
    fn run_ids_look_like_the_w_and_b_clients() {
        let id = new_run_id();
        assert_eq!(id.len(), 8);
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
        assert_ne!(new_run_id(), id);
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
    }
}
