//! The runtime-API and storage types sn27 reads, decoded from SCALE bytes that this test encodes
//! with each finney runtime's own type registry (specs 343, 365, 393): a sample value is built
//! for the runtime's type (every field, whatever the runtime added), encoded, and decoded into
//! sn27's field-name types, which must find the sample's values.

use scale_info::{PortableRegistry, TypeDef, TypeDefPrimitive};
use sn27::chain::decode::{decode, HyperparamsFields, NeuronInfoLiteFields};
use sn27::chain::metadata::RuntimeCatalogue;
use sn27::chain::{AxonInfo, Metagraph, NeuronInfo, PrometheusInfo};
use subxt::ext::scale_value::{self, Composite, Primitive, Value, ValueDef};

fn load(spec: u32) -> RuntimeCatalogue {
    RuntimeCatalogue::decode(&crate::support::metadata_bytes(spec)).unwrap()
}

/// A deterministic sample value of any type: distinct small numbers, `Some` for options, two
/// elements per sequence.
fn sample(types: &PortableRegistry, id: u32, counter: &mut u128) -> Value<()> {
    let ty = types.resolve(id).unwrap();
    let mut next = |max: u128| {
        *counter += 1;
        Value::u128(*counter % max.max(1))
    };
    match &ty.type_def {
        TypeDef::Composite(c) => {
            if c.fields.iter().all(|f| f.name.is_some()) && !c.fields.is_empty() {
                Value::named_composite(
                    c.fields
                        .iter()
                        .map(|f| (f.name.clone().unwrap(), sample(types, f.ty.id, counter))),
                )
            } else {
                Value::unnamed_composite(c.fields.iter().map(|f| sample(types, f.ty.id, counter)))
            }
        }
        TypeDef::Variant(v) => {
            let variant = v
                .variants
                .iter()
                .find(|x| !x.fields.is_empty())
                .unwrap_or(&v.variants[0]);
            let fields: Vec<Value<()>> = variant
                .fields
                .iter()
                .map(|f| sample(types, f.ty.id, counter))
                .collect();
            Value::unnamed_variant(variant.name.clone(), fields)
        }
        TypeDef::Sequence(s) => {
            Value::unnamed_composite((0..2).map(|_| sample(types, s.type_param.id, counter)))
        }
        TypeDef::Array(a) => {
            Value::unnamed_composite((0..a.len).map(|_| sample(types, a.type_param.id, counter)))
        }
        TypeDef::Tuple(t) => {
            Value::unnamed_composite(t.fields.iter().map(|f| sample(types, f.id, counter)))
        }
        TypeDef::Compact(c) => sample(types, c.type_param.id, counter),
        TypeDef::BitSequence(_) => Value::bit_sequence(scale_value::BitSequence::new()),
        TypeDef::Primitive(p) => match p {
            TypeDefPrimitive::Bool => Value::bool(*counter % 2 == 0),
            TypeDefPrimitive::Str => Value::string("x"),
            TypeDefPrimitive::U8 => next(250),
            TypeDefPrimitive::U16 => next(60_000),
            TypeDefPrimitive::U32 | TypeDefPrimitive::U64 | TypeDefPrimitive::U128 => next(1 << 31),
            TypeDefPrimitive::I8
            | TypeDefPrimitive::I16
            | TypeDefPrimitive::I32
            | TypeDefPrimitive::I64
            | TypeDefPrimitive::I128 => Value::i128(-((*counter % 100) as i128)),
            other => panic!("no sample for {other:?}"),
        },
    }
}

/// The first named field `name` anywhere in `value` (depth-first), as its numbers.
fn field<'a>(value: &'a Value<()>, name: &str) -> Option<&'a Value<()>> {
    match &value.value {
        ValueDef::Composite(Composite::Named(fields)) => fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
            .or_else(|| fields.iter().find_map(|(_, v)| field(v, name))),
        ValueDef::Composite(Composite::Unnamed(items)) => items.iter().find_map(|v| field(v, name)),
        ValueDef::Variant(variant) => variant.values.values().find_map(|v| field(v, name)),
        _ => None,
    }
}

fn number(value: &Value<()>) -> u128 {
    match &value.value {
        ValueDef::Primitive(Primitive::U128(n)) => *n,
        ValueDef::Composite(c) if c.values().count() == 1 => number(c.values().next().unwrap()),
        other => panic!("not a number: {other:?}"),
    }
}

fn boolean(value: &Value<()>) -> bool {
    match &value.value {
        ValueDef::Primitive(Primitive::Bool(b)) => *b,
        other => panic!("not a bool: {other:?}"),
    }
}

fn bytes(value: &Value<()>) -> Vec<u8> {
    match &value.value {
        ValueDef::Composite(c) if c.values().count() == 1 => bytes(c.values().next().unwrap()),
        ValueDef::Composite(c) => c.values().map(|v| number(v) as u8).collect(),
        other => panic!("not bytes: {other:?}"),
    }
}

fn encode(types: &PortableRegistry, id: u32, value: &Value<()>) -> Vec<u8> {
    let mut out = Vec::new();
    scale_value::scale::encode_as_type(value, id, types, &mut out).unwrap();
    out
}

#[test]
fn neurons_axons_prometheus_and_hyperparameters_decode_on_every_runtime() {
    for spec in [343, 365, 393] {
        let c = load(spec);
        let types = c.types();

        // get_neurons_lite -> Vec<NeuronInfoLite>
        let id = c
            .runtime_api_output("NeuronInfoRuntimeApi", "get_neurons_lite")
            .unwrap();
        let value = sample(types, id, &mut 0);
        let neurons: Vec<NeuronInfoLiteFields> = decode(&encode(types, id, &value), id, types)
            .unwrap_or_else(|e| panic!("spec {spec}: {e}"));
        assert_eq!(neurons.len(), 2);
        let first = match &value.value {
            ValueDef::Composite(c) => c.values().next().unwrap(),
            _ => unreachable!(),
        };
        let n = &neurons[0];
        assert_eq!(
            u128::from(n.uid),
            number(field(first, "uid").unwrap()),
            "spec {spec}"
        );
        assert_eq!(n.hotkey.to_vec(), bytes(field(first, "hotkey").unwrap()));
        assert_eq!(n.coldkey.to_vec(), bytes(field(first, "coldkey").unwrap()));
        assert_eq!(
            u128::from(n.last_update),
            number(field(first, "last_update").unwrap())
        );
        assert_eq!(
            n.validator_permit,
            boolean(field(first, "validator_permit").unwrap())
        );
        let axon = field(first, "axon_info").unwrap();
        assert_eq!(n.axon_info.ip, number(field(axon, "ip").unwrap()));
        assert_eq!(
            u128::from(n.axon_info.port),
            number(field(axon, "port").unwrap())
        );
        // prometheus_info, every field by name (the sample numbers are distinct).
        let prometheus = field(first, "prometheus_info").unwrap();
        let expected = PrometheusInfo {
            block: number(field(prometheus, "block").unwrap()) as u64,
            version: number(field(prometheus, "version").unwrap()) as u32,
            ip: number(field(prometheus, "ip").unwrap()),
            port: number(field(prometheus, "port").unwrap()) as u16,
            ip_type: number(field(prometheus, "ip_type").unwrap()) as u8,
        };
        assert_eq!(n.prometheus_info, expected, "spec {spec}");
        assert_ne!(
            n.prometheus_info.version, n.axon_info.version,
            "spec {spec}"
        );
        let info: NeuronInfo = n.clone().into();
        assert_eq!(info.stake, n.stake.iter().map(|(_, s)| s).sum::<u64>());
        assert_eq!(info.prometheus, expected);
        assert_eq!(
            info.prometheus.version,
            Metagraph {
                netuid: 27,
                block: 1,
                neurons: vec![info.clone()],
            }
            .snapshot()
            .neuron(&info.hotkey)
            .unwrap()
            .prometheus_version
        );

        // Storage SubtensorModule.Axons -> AxonInfo
        let id = c.storage_value_type("SubtensorModule", "Axons").unwrap();
        let value = sample(types, id, &mut 100);
        let axon: AxonInfo = decode(&encode(types, id, &value), id, types).unwrap();
        assert_eq!(
            u128::from(axon.version),
            number(field(&value, "version").unwrap()),
            "spec {spec}"
        );
        assert_eq!(
            u128::from(axon.ip_type),
            number(field(&value, "ip_type").unwrap())
        );

        // Storage SubtensorModule.Prometheus -> PrometheusInfo
        let id = c
            .storage_value_type("SubtensorModule", "Prometheus")
            .unwrap();
        let value = sample(types, id, &mut 200);
        let prometheus: PrometheusInfo = decode(&encode(types, id, &value), id, types)
            .unwrap_or_else(|e| panic!("spec {spec}: {e}"));
        assert_eq!(
            (
                u128::from(prometheus.block),
                u128::from(prometheus.version),
                prometheus.ip,
                u128::from(prometheus.port),
                u128::from(prometheus.ip_type)
            ),
            (
                number(field(&value, "block").unwrap()),
                number(field(&value, "version").unwrap()),
                number(field(&value, "ip").unwrap()),
                number(field(&value, "port").unwrap()),
                number(field(&value, "ip_type").unwrap())
            ),
            "spec {spec}"
        );

        // get_subnet_hyperparams_v2 -> Option<SubnetHyperparamsV2>
        let id = c
            .runtime_api_output("SubnetInfoRuntimeApi", "get_subnet_hyperparams_v2")
            .unwrap();
        let value = sample(types, id, &mut 1000);
        let params: Option<HyperparamsFields> = decode(&encode(types, id, &value), id, types)
            .unwrap_or_else(|e| panic!("spec {spec}: {e}"));
        let params = params.expect("the sample is Some");
        assert_eq!(
            u128::from(params.tempo),
            number(field(&value, "tempo").unwrap()),
            "spec {spec}"
        );
        assert_eq!(
            u128::from(params.weights_version),
            number(field(&value, "weights_version").unwrap())
        );
        assert_eq!(
            u128::from(params.weights_rate_limit),
            number(field(&value, "weights_rate_limit").unwrap())
        );
        assert_eq!(
            params.commit_reveal_weights_enabled,
            boolean(field(&value, "commit_reveal_weights_enabled").unwrap())
        );
    }
}

#[test]
fn truncated_or_padded_bytes_are_errors() {
    let c = load(393);
    let types = c.types();
    let id = c.storage_value_type("SubtensorModule", "Axons").unwrap();
    let bytes = encode(types, id, &sample(types, id, &mut 5));
    assert!(decode::<AxonInfo, _>(&bytes[..bytes.len() - 1], id, types).is_err());
    let mut padded = bytes.clone();
    padded.push(0);
    assert!(decode::<AxonInfo, _>(&padded, id, types)
        .unwrap_err()
        .contains("left over"));
}
