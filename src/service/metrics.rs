//! What a running service counts, and the endpoint that shows it: `GET /metrics` in the
//! Prometheus text format and `GET /status` (the essentials as JSON, what `sn27 status`
//! prints). Off unless `[metrics] listen` names an address; meant for loopback or a private
//! network (nothing here is authenticated).
//!
//! Counters are the place for totals: a refused caller is counted here on every refusal and
//! logged only now and then ([`RefusalLog`]), so a flood of refusals cannot drown the journal.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::shutdown::Shutdown;
use super::TaskResult;

type Labels = Vec<(String, String)>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Every metric of the service.
pub struct Metrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    refusals: Family<Labels, Counter>,
    allocations: Family<Labels, Gauge>,
    pog_rounds: Counter,
    pog_results: Family<Labels, Counter>,
    weights: Family<Labels, Counter>,
    chain_calls: Family<Labels, Counter>,
    gpus: Family<Labels, Gauge>,
    gpu_memory: Family<Labels, Gauge>,
    gpu_temperature: Family<Labels, Gauge>,
    gpu_utilization: Family<Labels, Gauge>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// The metrics of a service of `role` (`miner` or `validator`), version `version`.
    pub fn new(role: &str, version: &str) -> Arc<Metrics> {
        let mut registry = Registry::with_prefix("sn27");
        let info = Family::<Labels, Gauge>::default();
        info.get_or_create(&labels(&[("role", role), ("version", version)]))
            .set(1);
        registry.register("build_info", "The role and version of this service", info);
        let requests = Family::default();
        registry.register(
            "axon_requests",
            "Requests to the axon by synapse and HTTP status",
            requests.clone(),
        );
        let refusals = Family::default();
        registry.register(
            "refusals",
            "Refused requests and Allocate answers by reason",
            refusals.clone(),
        );
        let allocations = Family::default();
        registry.register(
            "allocations",
            "Live allocations of this miner by kind",
            allocations.clone(),
        );
        let pog_rounds = Counter::default();
        registry.register(
            "pog_rounds",
            "Proof-of-GPU rounds finished",
            pog_rounds.clone(),
        );
        let pog_results = Family::default();
        registry.register(
            "pog_results",
            "Proof-of-GPU tests by result and failing step",
            pog_results.clone(),
        );
        let weights = Family::default();
        registry.register("weights", "Weight settings by outcome", weights.clone());
        let chain_calls = Family::default();
        registry.register(
            "chain_calls",
            "Chain reads and writes by call and outcome",
            chain_calls.clone(),
        );
        let gpus = Family::default();
        registry.register("gpu_info", "GPUs the driver reports", gpus.clone());
        let gpu_memory = Family::default();
        registry.register("gpu_memory_total_bytes", "GPU memory", gpu_memory.clone());
        let gpu_temperature = Family::default();
        registry.register(
            "gpu_temperature_celsius",
            "GPU temperature",
            gpu_temperature.clone(),
        );
        let gpu_utilization = Family::default();
        registry.register(
            "gpu_utilization_percent",
            "GPU utilisation",
            gpu_utilization.clone(),
        );
        Arc::new(Metrics {
            registry,
            requests,
            refusals,
            allocations,
            pog_rounds,
            pog_results,
            weights,
            chain_calls,
            gpus,
            gpu_memory,
            gpu_temperature,
            gpu_utilization,
        })
    }

    pub fn request(&self, synapse: &str, status: u16) {
        self.requests
            .get_or_create(&labels(&[
                ("synapse", synapse),
                ("status", &status.to_string()),
            ]))
            .inc();
    }

    pub fn refusal(&self, reason: &str) {
        self.refusals
            .get_or_create(&labels(&[("reason", reason)]))
            .inc();
    }

    pub fn set_allocations(&self, kind: &str, count: usize) {
        self.allocations
            .get_or_create(&labels(&[("kind", kind)]))
            .set(count as i64);
    }

    pub fn pog_round(&self) {
        self.pog_rounds.inc();
    }

    /// One test's result: `passed`, or the step that failed.
    pub fn pog_result(&self, result: &str) {
        self.pog_results
            .get_or_create(&labels(&[("result", result)]))
            .inc();
    }

    pub fn weights(&self, outcome: &str) {
        self.weights
            .get_or_create(&labels(&[("outcome", outcome)]))
            .inc();
    }

    pub fn chain_call(&self, call: &str, ok: bool) {
        let outcome = if ok { "ok" } else { "error" };
        self.chain_calls
            .get_or_create(&labels(&[("call", call), ("outcome", outcome)]))
            .inc();
    }

    /// One GPU as the driver reports it.
    pub fn set_gpu(
        &self,
        index: u32,
        name: &str,
        uuid: &str,
        memory_bytes: Option<u64>,
        temperature: Option<u32>,
        utilization: Option<u32>,
    ) {
        let index = index.to_string();
        self.gpus
            .get_or_create(&labels(&[
                ("index", &index),
                ("name", name),
                ("uuid", uuid),
            ]))
            .set(1);
        let id = labels(&[("index", &index)]);
        if let Some(bytes) = memory_bytes {
            self.gpu_memory.get_or_create(&id).set(bytes as i64);
        }
        if let Some(t) = temperature {
            self.gpu_temperature.get_or_create(&id).set(i64::from(t));
        }
        if let Some(u) = utilization {
            self.gpu_utilization.get_or_create(&id).set(i64::from(u));
        }
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        if encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }
}

/// What `/status` answers: the role's own summary, computed when asked.
pub type StatusFn = Arc<dyn Fn() -> serde_json::Value + Send + Sync>;
/// Run before each scrape (e.g. to read the GPUs again), on the blocking pool: it may block.
pub type ScrapeHook = Arc<dyn Fn(&Metrics) + Send + Sync>;

/// Binds the endpoint's address (before the service says it is ready, so that it answers from
/// then on).
pub async fn bind(listen: SocketAddr) -> Result<tokio::net::TcpListener, String> {
    tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("binding the metrics endpoint to {listen} ([metrics] listen): {e}"))
}

/// Serves `/metrics` and `/status` on `listener` until shutdown (a supervised task).
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    status: StatusFn,
    before_scrape: ScrapeHook,
    shutdown: Shutdown,
) -> TaskResult {
    if let Ok(listen) = listener.local_addr() {
        tracing::info!(%listen, "metrics and status served");
    }
    loop {
        let (stream, _) = tokio::select! {
            _ = shutdown.requested() => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let (metrics, status, hook) = (metrics.clone(), status.clone(), before_scrape.clone());
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                    let (metrics, status, hook) = (metrics.clone(), status.clone(), hook.clone());
                    async move {
                        let (code, kind, body) = match request.uri().path() {
                            "/metrics" => {
                                // The hook may block (NVML loads the driver's library and
                                // asks every GPU): on the blocking pool, not the runtime,
                                // which also serves the axon.
                                let refreshed = metrics.clone();
                                let _ = tokio::task::spawn_blocking(move || hook(&refreshed)).await;
                                (
                                    StatusCode::OK,
                                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                                    metrics.encode(),
                                )
                            }
                            "/status" => (StatusCode::OK, "application/json", status().to_string()),
                            _ => (
                                StatusCode::NOT_FOUND,
                                "text/plain",
                                "see /metrics or /status\n".into(),
                            ),
                        };
                        let mut response = Response::new(Full::new(Bytes::from(body)));
                        *response.status_mut() = code;
                        if let Ok(value) = hyper::header::HeaderValue::from_str(kind) {
                            response
                                .headers_mut()
                                .insert(hyper::header::CONTENT_TYPE, value);
                        }
                        Ok::<_, std::convert::Infallible>(response)
                    }
                });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Logs refusals of one kind at most once per interval: the first at once, later ones as a
/// count when the interval has passed (the metrics carry every one).
pub struct RefusalLog {
    interval: Duration,
    seen: Mutex<HashMap<String, (Instant, u64)>>,
}

impl RefusalLog {
    pub fn new(interval: Duration) -> Self {
        RefusalLog {
            interval,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Records one refusal under `key` (e.g. caller and reason); returns how many to report
    /// now (this one included), or `None` to stay quiet.
    pub fn record(&self, key: &str) -> Option<u64> {
        self.record_at(key, Instant::now())
    }

    fn record_at(&self, key: &str, now: Instant) -> Option<u64> {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() > 10_000 {
            let interval = self.interval;
            seen.retain(|_, (since, _)| now.duration_since(*since) < interval);
        }
        match seen.get_mut(key) {
            None => {
                seen.insert(key.to_string(), (now, 0));
                Some(1)
            }
            Some((since, count)) => {
                *count += 1;
                if now.duration_since(*since) >= self.interval {
                    let report = *count;
                    *since = now;
                    *count = 0;
                    Some(report)
                } else {
                    None
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_logged_once_per_interval_with_their_count() {
        let log = RefusalLog::new(Duration::from_secs(60));
        let start = Instant::now();
        assert_eq!(log.record_at("5F:rate limit", start), Some(1));
        for s in 1..=30 {
            assert_eq!(
                log.record_at("5F:rate limit", start + Duration::from_secs(s)),
                None
            );
        }
        assert_eq!(log.record_at("other", start), Some(1), "keys are apart");
        assert_eq!(
            log.record_at("5F:rate limit", start + Duration::from_secs(61)),
            Some(31)
        );
        assert_eq!(
            log.record_at("5F:rate limit", start + Duration::from_secs(62)),
            None
        );
    }

    #[test]
    fn the_exposition_names_every_family() {
        let metrics = Metrics::new("miner", "0.1.0");
        metrics.request("Allocate", 200);
        metrics.refusal("rate limit");
        metrics.set_allocations("rental", 1);
        metrics.chain_call("metagraph", true);
        let text = metrics.encode();
        for expected in [
            "sn27_build_info{role=\"miner\",version=\"0.1.0\"} 1",
            "sn27_axon_requests_total{synapse=\"Allocate\",status=\"200\"} 1",
            "sn27_refusals_total{reason=\"rate limit\"} 1",
            "sn27_allocations{kind=\"rental\"} 1",
            "sn27_chain_calls_total{call=\"metagraph\",outcome=\"ok\"} 1",
        ] {
            assert!(text.contains(expected), "{expected} in\n{text}");
        }
    }
}
