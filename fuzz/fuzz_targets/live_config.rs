//! Fuzzes the live configuration a validator follows (`validator::live_config`): the `/config`
//! document from the subnet owner's server, parsed with `LiveConfig::parse` and applied with
//! `LiveConfig::apply` over the default configuration and over a v2.2.1 validator's.
//!
//! Input layout: the whole input is the HTTP body of the `/config` answer.
//!
//! Besides "never panics": a configuration `apply` returns is valid (`config::problems` finds
//! nothing), as the document promises, since a live configuration is applied whole or not at
//! all.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sn27::config::{problems, Config, Role, ScoringConfig, ScoringProfile};
use sn27::validator::live_config::LiveConfig;

fn bases() -> &'static [Config; 2] {
    static BASES: OnceLock<[Config; 2]> = OnceLock::new();
    BASES.get_or_init(|| {
        [
            Config::default(),
            Config {
                role: Some(Role::Validator),
                scoring: ScoringConfig::for_profile(ScoringProfile::Sn27V221),
                ..Config::default()
            },
        ]
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(live) = LiveConfig::parse(data) else {
        return;
    };
    for base in bases() {
        if let Ok(applied) = live.apply(base) {
            assert_eq!(problems(&applied), Vec::<String>::new());
            // Applying the same document again changes nothing more.
            let again = live
                .apply(&applied)
                .expect("a valid result takes the document again");
            assert_eq!(again, applied);
        }
    }
});
