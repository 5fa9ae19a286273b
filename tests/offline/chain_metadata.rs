//! The calls sn27 makes, checked against real finney runtime metadata (`../shared/metadata/`:
//! specs 343, 365 and 393), so that a drift in names, indices or argument types fails here.

use sn27::chain::metadata::{RuntimeCatalogue, SUBTENSOR_PALLET};

fn load(spec: u32) -> RuntimeCatalogue {
    RuntimeCatalogue::decode(&crate::support::metadata_bytes(spec)).unwrap()
}

fn args(catalogue: &RuntimeCatalogue, call: &str) -> Vec<(String, String)> {
    catalogue
        .call(SUBTENSOR_PALLET, call)
        .unwrap_or_else(|| panic!("{call} missing"))
        .args
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn every_runtime_has_the_calls_we_use_with_the_documented_shape() {
    for (spec, metadata_version) in [(343, 15), (365, 16), (393, 16)] {
        let c = load(spec);
        assert_eq!(c.metadata_version, metadata_version, "spec {spec}");
        assert_eq!(c.spec_version, Some(spec), "spec {spec}: System.Version");
        assert!(
            c.check_calls().is_empty(),
            "spec {spec}: {:?}",
            c.check_calls()
        );

        let index = |call: &str| c.call(SUBTENSOR_PALLET, call).unwrap().call_index;
        // Call indices of `bittensor-wire.md` §5.4–5.7.
        assert_eq!(index("set_weights"), 0, "spec {spec}");
        assert_eq!(index("serve_axon"), 4, "spec {spec}");
        assert_eq!(index("serve_prometheus"), 5, "spec {spec}");
        assert_eq!(index("burned_register"), 7, "spec {spec}");
        assert_eq!(index("commit_weights"), 96, "spec {spec}");
        assert_eq!(index("reveal_weights"), 97, "spec {spec}");

        assert_eq!(
            args(&c, "burned_register"),
            pairs(&[("netuid", "u16"), ("hotkey", "[u8; 32]")]),
            "spec {spec}"
        );
        assert_eq!(
            args(&c, "serve_axon"),
            pairs(&[
                ("netuid", "u16"),
                ("version", "u32"),
                ("ip", "u128"),
                ("port", "u16"),
                ("ip_type", "u8"),
                ("protocol", "u8"),
                ("placeholder1", "u8"),
                ("placeholder2", "u8")
            ]),
            "spec {spec}"
        );
        assert_eq!(
            args(&c, "serve_prometheus"),
            pairs(&[
                ("netuid", "u16"),
                ("version", "u32"),
                ("ip", "u128"),
                ("port", "u16"),
                ("ip_type", "u8")
            ]),
            "spec {spec}"
        );
        assert_eq!(
            args(&c, "set_weights"),
            pairs(&[
                ("netuid", "u16"),
                ("dests", "Vec<u16>"),
                ("weights", "Vec<u16>"),
                ("version_key", "u64")
            ]),
            "spec {spec}"
        );
        assert_eq!(
            args(&c, "commit_weights"),
            pairs(&[("netuid", "u16"), ("commit_hash", "[u8; 32]")]),
            "spec {spec}"
        );
        assert_eq!(
            args(&c, "reveal_weights"),
            pairs(&[
                ("netuid", "u16"),
                ("uids", "Vec<u16>"),
                ("values", "Vec<u16>"),
                ("salt", "Vec<u16>"),
                ("version_key", "u64")
            ]),
            "spec {spec}"
        );
        let pallet_index = c
            .call(SUBTENSOR_PALLET, "set_weights")
            .unwrap()
            .pallet_index;
        assert_eq!(
            pallet_index,
            c.call(SUBTENSOR_PALLET, "serve_axon").unwrap().pallet_index
        );

        // The standard extensions the signer must fill are present in every runtime.
        for extension in [
            "CheckSpecVersion",
            "CheckTxVersion",
            "CheckGenesis",
            "CheckMortality",
            "CheckNonce",
        ] {
            assert!(
                c.extensions.iter().any(|e| e == extension),
                "spec {spec}: {extension} in {:?}",
                c.extensions
            );
        }
    }
}

/// Facts that differ between the three runtimes, recorded so that a client relying on them
/// knows which runtime it talks to.
#[test]
fn runtime_differences_are_what_we_recorded() {
    let names = |spec| load(spec).call_names(SUBTENSOR_PALLET);
    for spec in [343, 365, 393] {
        let calls = names(spec);
        let has = |call: &str| calls.iter().any(|c| c == call);
        println!(
            "spec {spec}: commit_crv3_weights {}, commit_timelocked_weights {}, extensions {:?}",
            has("commit_crv3_weights"),
            has("commit_timelocked_weights"),
            load(spec).extensions
        );
    }
    // The timelocked commit of the current SDK exists in the newest of the three runtimes.
    let latest = load(393);
    let timelocked = latest
        .call(SUBTENSOR_PALLET, "commit_timelocked_weights")
        .expect("spec 393 has commit_timelocked_weights");
    assert_eq!(timelocked.call_index, 113);
    assert_eq!(
        timelocked
            .args
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>(),
        ["netuid", "commit", "reveal_round", "commit_reveal_version"]
    );
}

#[test]
fn garbage_is_refused_with_a_reason() {
    assert!(RuntimeCatalogue::decode(b"not metadata")
        .unwrap_err()
        .0
        .contains("metadata"));
    assert!(RuntimeCatalogue::decode(b"").is_err());
}
