//! Log output: human-readable on a terminal, journald under systemd, JSON on request.
//!
//! systemd sets `JOURNAL_STREAM` to the device and inode of the stream it connected to our
//! stderr; when that still matches stderr, the process was started by systemd and log lines go
//! to journald with their fields intact. `RUST_LOG` overrides the configured filter.

use std::io::IsTerminal;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer, Registry};

use serde::{Deserialize, Serialize};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// journald when started by systemd, else human-readable text.
    Auto,
    Text,
    Json,
    Journald,
}

/// Installs the global subscriber. Returns a note when something asked for could not be used
/// (an invalid `RUST_LOG`, an unreachable journald) and what was used instead; the caller logs
/// it once logging works.
pub fn init(format: LogFormat, filter: &str) -> Option<String> {
    let mut notes = Vec::new();
    let from_env = std::env::var("RUST_LOG").ok().and_then(|text| {
        EnvFilter::try_new(&text)
            .map_err(|e| {
                notes.push(format!(
                    "RUST_LOG={text:?} is not a valid filter ({e}); ignored"
                ))
            })
            .ok()
    });
    let from_rust_log = from_env.is_some();
    let filter = from_env
        .or_else(|| EnvFilter::try_new(filter).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let (filter, handle) = tracing_subscriber::reload::Layer::new(filter);
    let (layer, output_note) = output_layer(format);
    notes.extend(output_note);
    let note = (!notes.is_empty()).then(|| notes.join("; "));
    // A second init (tests) leaves the first subscriber in place; that is fine.
    if Registry::default()
        .with(layer.with_filter(filter))
        .try_init()
        .is_ok()
    {
        let _ = FILTER.set((handle, from_rust_log));
    }
    note
}

/// The installed filter, and whether `RUST_LOG` chose it (then the configuration's does not
/// apply, on a reload either).
static FILTER: std::sync::OnceLock<(
    tracing_subscriber::reload::Handle<EnvFilter, Registry>,
    bool,
)> = std::sync::OnceLock::new();

/// Replaces the configured filter (a reload of `[log] filter`); says why not when it cannot.
pub fn set_filter(filter: &str) -> Result<(), String> {
    let (handle, from_rust_log) = FILTER.get().ok_or("logging is not initialised")?;
    if *from_rust_log {
        return Err("RUST_LOG chose the filter; it stays".into());
    }
    let filter = EnvFilter::try_new(filter).map_err(|e| format!("not a valid filter: {e}"))?;
    handle.reload(filter).map_err(|e| e.to_string())
}

type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

fn output_layer(format: LogFormat) -> (BoxedLayer, Option<String>) {
    let text = || -> BoxedLayer {
        fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .boxed()
    };
    match format {
        LogFormat::Text => (text(), None),
        LogFormat::Json => (
            fmt::layer().json().with_writer(std::io::stderr).boxed(),
            None,
        ),
        LogFormat::Journald => match journald() {
            Ok(layer) => (layer, None),
            Err(e) => (
                text(),
                Some(format!(
                    "journald is not reachable ({e}); logging to stderr"
                )),
            ),
        },
        LogFormat::Auto if started_by_systemd() => match journald() {
            Ok(layer) => (layer, None),
            Err(_) => (text(), None),
        },
        LogFormat::Auto => (text(), None),
    }
}

/// The journald layer: identifier `sn27`, and levels mapped to the syslog priorities
/// operators filter on (`journalctl -p info` shows info and above; tracing-journald's own
/// default would file info lines as notices).
fn journald() -> std::io::Result<BoxedLayer> {
    use tracing_journald::{Priority, PriorityMappings};
    Ok(tracing_journald::layer()?
        .with_syslog_identifier("sn27".into())
        .with_priority_mappings(PriorityMappings {
            error: Priority::Error,
            warn: Priority::Warning,
            info: Priority::Informational,
            debug: Priority::Debug,
            trace: Priority::Debug,
        })
        .boxed())
}

/// True when stderr is the stream systemd described in `JOURNAL_STREAM` (`<dev>:<inode>`).
fn started_by_systemd() -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(value) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = value.split_once(':') else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
        return false;
    };
    match std::fs::metadata("/proc/self/fd/2") {
        Ok(meta) => meta.dev() == dev && meta.ino() == ino,
        Err(_) => false,
    }
}
