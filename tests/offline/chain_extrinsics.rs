//! Every call sn27 makes, built as a fully signed extrinsic with the dynamic API for each real
//! finney runtime (`../shared/metadata/`, specs 343, 365, 393), then decoded back with the same
//! metadata: pallet and call indices, argument values, the transaction-extension list, and a
//! signature that verifies over the signer payload.

use sn27::chain::commit::commit_hash;
use sn27::chain::extrinsic::{Mortality, RuntimeContext, SubtensorCall, SubtensorConfig};
use sn27::chain::metadata::RuntimeCatalogue;
use sn27::chain::{AxonInfo, PrometheusInfo};
use sn27::keys::{Keypair, PublicKey};
use subxt::ext::scale_value::{Composite, Primitive, Value, ValueDef};

/// Finney's genesis hash (`bittensor-wire.md` §5.1).
const FINNEY_GENESIS: &str = "2f0555cc76fc2840a25a6ea3b9637146806f1f44b090c175ffde2a7e5ab36c03";

fn metadata(spec: u32) -> Vec<u8> {
    crate::support::metadata_bytes(spec)
}

/// Flattens a decoded argument to the numbers it holds (composites of u8 become bytes).
fn numbers(value: &Value<u32>) -> Vec<u128> {
    match &value.value {
        ValueDef::Primitive(Primitive::U128(n)) => vec![*n],
        ValueDef::Composite(Composite::Unnamed(items)) => items.iter().flat_map(numbers).collect(),
        ValueDef::Composite(Composite::Named(items)) => {
            items.iter().flat_map(|(_, v)| numbers(v)).collect()
        }
        other => panic!("unexpected value {other:?}"),
    }
}

fn widen(values: &[u16]) -> Vec<u128> {
    values.iter().map(|&v| u128::from(v)).collect()
}

#[test]
fn signed_extrinsics_round_trip_on_every_runtime() {
    let signer = Keypair::from_mnemonic(
        "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
    )
    .unwrap();
    let hotkey = PublicKey([0x11; 32]);
    let genesis: [u8; 32] = hex::decode(FINNEY_GENESIS).unwrap().try_into().unwrap();
    let axon = AxonInfo::for_address("1.2.3.4".parse().unwrap(), 8091, 183);
    let prometheus = PrometheusInfo::for_address("5.6.7.8".parse().unwrap(), 7091, 221);
    let hash = commit_hash(&hotkey, 27, &[1, 2], &[65535, 100], &[7, 8], 183);

    for spec in [343u32, 365, 393] {
        let bytes = metadata(spec);
        let catalogue = RuntimeCatalogue::decode(&bytes).unwrap();
        let context = RuntimeContext::new(&bytes, genesis, spec, 1).unwrap();
        let cases: Vec<(SubtensorCall, Vec<Vec<u128>>)> = vec![
            (
                SubtensorCall::burned_register(27, &hotkey),
                vec![vec![27], vec![0x11; 32]],
            ),
            (
                SubtensorCall::serve_axon(27, &axon),
                vec![
                    vec![27],
                    vec![183],
                    vec![16_909_060],
                    vec![8091],
                    vec![4],
                    vec![4],
                    vec![0],
                    vec![0],
                ],
            ),
            (
                SubtensorCall::serve_prometheus(27, &prometheus),
                vec![vec![27], vec![221], vec![84_281_096], vec![7091], vec![4]],
            ),
            (
                SubtensorCall::set_weights(27, &[1, 2, 3], &[65535, 45875, 31129], 183),
                vec![
                    vec![27],
                    widen(&[1, 2, 3]),
                    widen(&[65535, 45875, 31129]),
                    vec![183],
                ],
            ),
            (
                SubtensorCall::commit_weights(27, hash),
                vec![vec![27], hash.iter().map(|&b| u128::from(b)).collect()],
            ),
            (
                SubtensorCall::reveal_weights(27, &[1, 2], &[65535, 100], &[7, 8], 183),
                vec![
                    vec![27],
                    widen(&[1, 2]),
                    widen(&[65535, 100]),
                    widen(&[7, 8]),
                    vec![183],
                ],
            ),
            (
                SubtensorCall::commit_timelocked_weights(27, &[9, 8, 7], 31_000_000, 4),
                vec![vec![27], vec![9, 8, 7], vec![31_000_000], vec![4]],
            ),
        ];
        for (nonce, (call, expected_args)) in cases.into_iter().enumerate() {
            let mortality = if nonce % 2 == 0 {
                Mortality::Immortal
            } else {
                Mortality::Mortal {
                    period: 128,
                    block: 4_000_000,
                    block_hash: [0x22; 32],
                }
            };
            let signed = context
                .sign(&call, &signer, nonce as u64, mortality)
                .unwrap();
            let decoded = subxt::ext::subxt_core::blocks::decode_from::<SubtensorConfig>(
                vec![signed.bytes.clone()],
                context.metadata(),
            )
            .unwrap();
            let extrinsic = decoded.iter().next().unwrap();
            let info = catalogue.call("SubtensorModule", call.name).unwrap();
            assert_eq!(
                extrinsic.pallet_name().unwrap(),
                "SubtensorModule",
                "spec {spec} {}",
                call.name
            );
            assert_eq!(extrinsic.variant_name().unwrap(), call.name);
            assert_eq!(extrinsic.pallet_index(), info.pallet_index);
            assert_eq!(extrinsic.variant_index(), info.call_index);
            assert_eq!(
                &signed.call_data[..2],
                &[info.pallet_index, info.call_index]
            );

            let fields = extrinsic.field_values().unwrap();
            let values: Vec<Vec<u128>> = fields.values().map(numbers).collect();
            assert_eq!(
                values, expected_args,
                "spec {spec} {}: arguments",
                call.name
            );

            // The signer is MultiAddress::Id(our key), the signature sr25519 over the payload.
            assert_eq!(extrinsic.address_bytes().unwrap()[0], 0, "MultiAddress::Id");
            assert_eq!(&extrinsic.address_bytes().unwrap()[1..], &signer.public().0);
            let signature = extrinsic.signature_bytes().unwrap();
            assert_eq!(signature[0], 1, "MultiSignature::Sr25519");
            assert!(signer
                .public()
                .verify(&signed.signer_payload, &signature[1..]));

            // The extension list is the runtime's, in its order, with our nonce in it.
            let extensions = extrinsic.transaction_extensions().unwrap();
            let names: Vec<&str> = extensions.iter().map(|e| e.name()).collect();
            assert_eq!(names, catalogue.extensions, "spec {spec}");
            assert_eq!(extensions.nonce(), Some(nonce as u64));
            assert_eq!(extensions.tip(), Some(0));
        }
    }
}

#[test]
fn a_call_missing_from_the_runtime_is_a_plain_error() {
    let genesis = [0u8; 32];
    let context = RuntimeContext::new(&metadata(393), genesis, 393, 1).unwrap();
    let call = SubtensorCall {
        name: "commit_crv3_weights",
        args: vec![],
    };
    let err = context.call_data(&call).unwrap_err().to_string();
    assert!(err.contains("commit_crv3_weights"), "{err}");
    assert!(RuntimeContext::new(b"junk", genesis, 1, 1).is_err());
}
