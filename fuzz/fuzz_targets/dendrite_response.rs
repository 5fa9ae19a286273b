//! Fuzzes what the dendrite does with an axon's answer: hyper's response parsing, the status
//! and error-message mapping, the header overlay (`RequestHeaders::parse`) and the body's
//! decoding into a synapse, all through `Dendrite::call` (the decoding itself is private),
//! against a local peer that answers with the fuzzed bytes. For `Allocate`, the reply's
//! `output` is then read as `validator::renting` reads it.
//!
//! Input layout: the first byte selects the synapse class (`b % 3`: `0` Allocate, `1`
//! Challenge, `2` Ping; the seeds use those digits), the rest is the raw HTTP/1.1 response
//! (status line, headers, blank line, body) the axon sends.

#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use sn27::dendrite::{Dendrite, Reply, Target};
use sn27::keys::Keypair;
use sn27::protocol::{Allocate, AllocateOutput, Challenge, Ping, Synapse, SynapseFields};
use sn27_fuzz::ScriptedPeer;

/// Long enough for any local answer; a hang past it is reported as a 408, not a finding.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

struct Harness {
    runtime: tokio::runtime::Runtime,
    peer: ScriptedPeer,
    keypair: Keypair,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let (runtime, peer) = ScriptedPeer::with_runtime();
        let keypair = Keypair::from_secret_bytes(&[7; 32]).expect("a 32-byte seed");
        Harness {
            runtime,
            peer,
            keypair,
        }
    })
}

/// Checks what every reply must satisfy, whatever the axon sent.
fn check<T: SynapseFields>(reply: &Reply<T>) {
    assert_eq!(reply.is_success(), reply.status_code == 200);
    let code = Some(i64::from(reply.status_code));
    assert_eq!(reply.synapse.axon.status_code, code);
    assert_eq!(reply.synapse.dendrite.status_code, code);
    assert_eq!(
        reply.synapse.dendrite.status_message.as_deref(),
        Some(reply.status_message.as_str())
    );
    // A reply is kept and logged by callers: it must serialise and read back.
    let text = serde_json::to_string(&reply.synapse).expect("a reply serialises");
    let again: Synapse<T> = serde_json::from_str(&text).expect("a reply we write reads back");
    assert_eq!(
        serde_json::to_string(&again).expect("a reply serialises"),
        text
    );
}

fn call<T: SynapseFields>(harness: &Harness, dendrite: &Dendrite, target: &Target) -> Reply<T> {
    let reply = harness
        .runtime
        .block_on(dendrite.call(target, T::default(), CALL_TIMEOUT));
    check(&reply);
    reply
}

fuzz_target!(|data: &[u8]| {
    let Some((&class, response)) = data.split_first() else {
        return;
    };
    let harness = harness();
    harness.peer.script([response.to_vec()]);
    // A fresh client per input: no pooled connection carries state from one input to the next.
    let dendrite: Arc<Dendrite> = {
        let _guard = harness.runtime.enter();
        Dendrite::new(harness.keypair.clone())
    };
    let target = Target {
        addr: harness.peer.addr(),
        hotkey: "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY".into(),
    };
    match class % 3 {
        0 => {
            let reply = call::<Allocate>(harness, &dendrite, &target);
            // `renting::ask`: a success's output is what the renter acts on.
            let output = AllocateOutput::from_json(&reply.synapse.fields.output);
            assert_eq!(AllocateOutput::from_json(&output.to_json()), output);
        }
        1 => {
            call::<Challenge>(harness, &dendrite, &target);
        }
        _ => {
            call::<Ping>(harness, &dendrite, &target);
        }
    }
});
