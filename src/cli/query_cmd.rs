//! `sn27 query <ip:port> <hotkey> <synapse>`: call one axon as a validator would, to debug
//! reachability and answers.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use serde_json::{json, Value};

use super::wallet_cmd::{select, WalletArgs};
use crate::config::ConfigSource;
use crate::dendrite::{Dendrite, Reply, Target};
use crate::keys::PublicKey;
use crate::protocol::{Allocate, Challenge, Ping, Specs, SynapseFields};
use crate::wallet::KeyRole;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SynapseName {
    #[value(name = "Allocate")]
    Allocate,
    #[value(name = "Challenge")]
    Challenge,
    #[value(name = "Specs")]
    Specs,
    /// The ping every axon answers.
    #[value(name = "Synapse")]
    Synapse,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The axon's address, e.g. 203.0.113.5:8091.
    addr: SocketAddr,
    /// The axon's hotkey (ss58); the request is signed for it.
    axon_hotkey: String,
    /// Which synapse to send.
    #[arg(value_enum)]
    synapse: SynapseName,
    /// Request fields as a JSON object, e.g. '{"timeline": 1, "checking": true}'; fields left
    /// out take the synapse's defaults.
    #[arg(long, default_value = "{}")]
    json: String,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 12.0)]
    timeout: f64,
    /// Print the whole response synapse, not only its payload.
    #[arg(long)]
    full: bool,
    #[command(flatten)]
    wallet: WalletArgs,
}

pub fn run(args: QueryArgs, source: &ConfigSource) -> anyhow::Result<ExitCode> {
    PublicKey::from_ss58(&args.axon_hotkey).context("the axon hotkey")?;
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        bail!("--timeout must be a positive number of seconds");
    }
    let request: Value = serde_json::from_str(&args.json).context("--json is not valid JSON")?;
    if !request.is_object() {
        bail!("--json must be a JSON object of synapse fields");
    }
    let selected = select(source, &args.wallet)?;
    let hotkey = selected
        .wallet
        .keypair(KeyRole::Hotkey, &selected.passwords)?;
    let target = Target {
        addr: args.addr,
        hotkey: args.axon_hotkey.clone(),
    };
    let timeout = Duration::from_secs_f64(args.timeout);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let dendrite = Dendrite::new(hotkey);
    let (status, printed) = runtime.block_on(async {
        match args.synapse {
            SynapseName::Allocate => {
                call::<Allocate>(&dendrite, &target, request, timeout, args.full, |s| {
                    Value::Object(s.output.clone())
                })
                .await
            }
            SynapseName::Challenge => {
                call::<Challenge>(&dendrite, &target, request, timeout, args.full, |s| {
                    Value::Object(s.output.clone())
                })
                .await
            }
            SynapseName::Specs => {
                call::<Specs>(&dendrite, &target, request, timeout, args.full, |s| {
                    Value::String(s.specs_output.clone())
                })
                .await
            }
            SynapseName::Synapse => {
                call::<Ping>(&dendrite, &target, request, timeout, args.full, |_| {
                    Value::Null
                })
                .await
            }
        }
    })?;
    println!("{}", serde_json::to_string_pretty(&printed)?);
    Ok(if status == 200 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Sends one synapse and renders the reply: status, and the payload the Python SDK's
/// `deserialize()` would return (or the whole synapse with `full`).
async fn call<T: SynapseFields>(
    dendrite: &Dendrite,
    target: &Target,
    request: Value,
    timeout: Duration,
    full: bool,
    payload: impl Fn(&T) -> Value,
) -> anyhow::Result<(u16, Value)> {
    let fields: T = serde_json::from_value(request)
        .with_context(|| format!("--json does not fit the {} synapse", T::NAME))?;
    let reply: Reply<T> = dendrite.call(target, fields, timeout).await;
    let mut printed = json!({
        "status_code": reply.status_code,
        "status_message": reply.status_message,
        "elapsed_secs": reply.elapsed.as_secs_f64(),
        "output": payload(&reply.synapse.fields),
    });
    if full {
        printed["synapse"] = serde_json::to_value(&reply.synapse)?;
    }
    Ok((reply.status_code, printed))
}
