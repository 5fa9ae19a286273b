//! Reading a runtime's metadata (V15 and V16): the calls sn27 makes, their indices and argument
//! types, the transaction extensions and the runtime's spec version.
//!
//! The runtime upgrades every few weeks and calls move, change or disappear (`commit_crv3_weights`
//! went away in 2025). Everything the chain client encodes is therefore looked up here by name,
//! and [`RuntimeCatalogue::check_calls`] says in plain words what a runtime lacks.

use std::fmt;

use frame_metadata::{RuntimeMetadata, RuntimeMetadataPrefixed};
use parity_scale_codec::Decode;
use scale_info::{form::PortableForm, PortableRegistry, TypeDef, TypeDefPrimitive};

/// The pallet of every call sn27 makes.
pub const SUBTENSOR_PALLET: &str = "SubtensorModule";

/// The calls sn27 makes, with the argument names it encodes.
pub const CALLS_WE_USE: &[(&str, &[&str])] = &[
    ("burned_register", &["netuid", "hotkey"]),
    (
        "serve_axon",
        &[
            "netuid",
            "version",
            "ip",
            "port",
            "ip_type",
            "protocol",
            "placeholder1",
            "placeholder2",
        ],
    ),
    (
        "serve_prometheus",
        &["netuid", "version", "ip", "port", "ip_type"],
    ),
    (
        "set_weights",
        &["netuid", "dests", "weights", "version_key"],
    ),
    ("commit_weights", &["netuid", "commit_hash"]),
    (
        "reveal_weights",
        &["netuid", "uids", "values", "salt", "version_key"],
    ),
    (
        "commit_timelocked_weights",
        &["netuid", "commit", "reveal_round", "commit_reveal_version"],
    ),
];

/// One call of a pallet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallInfo {
    pub pallet_index: u8,
    pub call_index: u8,
    /// `(argument name, type as written in Rust, e.g. "Vec<u16>")`.
    pub args: Vec<(String, String)>,
}

/// What a metadata blob says about the calls and extensions sn27 depends on.
#[derive(Debug)]
pub struct RuntimeCatalogue {
    pub metadata_version: u32,
    pub spec_version: Option<u32>,
    /// Transaction extension identifiers, in signing order.
    pub extensions: Vec<String>,
    types: PortableRegistry,
    pallets: Vec<Pallet>,
    /// `(api, method, output type)` of every runtime API method.
    apis: Vec<(String, String, u32)>,
}

#[derive(Debug)]
struct Pallet {
    name: String,
    index: u8,
    calls: Option<u32>,
    constants: Vec<(String, Vec<u8>)>,
    /// `(entry, value type)` of every storage entry.
    storage: Vec<(String, u32)>,
}

/// The parts of one metadata version's pallets and APIs the catalogue keeps; the V15 and V16
/// structs have the same field names but different types.
macro_rules! pallets_and_apis {
    ($m:expr, $storage_version:ident) => {{
        let pallets = $m
            .pallets
            .into_iter()
            .map(|p| Pallet {
                name: p.name,
                index: p.index,
                calls: p.calls.map(|c| c.ty.id),
                constants: p.constants.into_iter().map(|c| (c.name, c.value)).collect(),
                storage: storage_entries!(p.storage, $storage_version),
            })
            .collect();
        let apis = $m
            .apis
            .into_iter()
            .flat_map(|api| {
                let name = api.name;
                api.methods
                    .into_iter()
                    .map(move |method| (name.clone(), method.name, method.output.id))
            })
            .collect();
        (pallets, apis)
    }};
}

macro_rules! storage_entries {
    ($storage:expr, $version:ident) => {
        $storage
            .map(|storage| {
                storage
                    .entries
                    .into_iter()
                    .map(|entry| {
                        let value = match entry.ty {
                            frame_metadata::$version::StorageEntryType::Plain(ty) => ty.id,
                            frame_metadata::$version::StorageEntryType::Map { value, .. } => {
                                value.id
                            }
                        };
                        (entry.name, value)
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
}

/// Why a metadata blob cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataError(pub String);

impl fmt::Display for MetadataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MetadataError {}

impl RuntimeCatalogue {
    /// Decodes `state_getMetadata` bytes (`meta` magic, then the versioned metadata).
    pub fn decode(mut bytes: &[u8]) -> Result<Self, MetadataError> {
        let prefixed = RuntimeMetadataPrefixed::decode(&mut bytes)
            .map_err(|e| MetadataError(format!("not runtime metadata: {e}")))?;
        if prefixed.0 != frame_metadata::META_RESERVED {
            return Err(MetadataError("missing the `meta` magic".into()));
        }
        let catalogue = match prefixed.1 {
            RuntimeMetadata::V15(m) => {
                let extensions = m
                    .extrinsic
                    .signed_extensions
                    .iter()
                    .map(|e| e.identifier.clone())
                    .collect();
                let (pallets, apis) = pallets_and_apis!(m, v14);
                let types = m.types;
                RuntimeCatalogue {
                    metadata_version: 15,
                    spec_version: None,
                    extensions,
                    types,
                    pallets,
                    apis,
                }
            }
            RuntimeMetadata::V16(m) => {
                let extensions = m
                    .extrinsic
                    .transaction_extensions
                    .iter()
                    .map(|e| e.identifier.clone())
                    .collect();
                let (pallets, apis) = pallets_and_apis!(m, v16);
                let types = m.types;
                RuntimeCatalogue {
                    metadata_version: 16,
                    spec_version: None,
                    extensions,
                    types,
                    pallets,
                    apis,
                }
            }
            other => {
                return Err(MetadataError(format!(
                    "metadata version {} is not supported (need V15 or V16)",
                    other.version()
                )))
            }
        };
        let spec_version = catalogue.read_spec_version();
        Ok(RuntimeCatalogue {
            spec_version,
            ..catalogue
        })
    }

    /// `System.Version` → `spec_version` (after `spec_name`, `impl_name`, `authoring_version`).
    fn read_spec_version(&self) -> Option<u32> {
        let system = self.pallets.iter().find(|p| p.name == "System")?;
        let (_, value) = system
            .constants
            .iter()
            .find(|(name, _)| name == "Version")?;
        let mut input = &value[..];
        let _spec_name = String::decode(&mut input).ok()?;
        let _impl_name = String::decode(&mut input).ok()?;
        let _authoring_version = u32::decode(&mut input).ok()?;
        u32::decode(&mut input).ok()
    }

    /// A call of a pallet, by name.
    pub fn call(&self, pallet: &str, call: &str) -> Option<CallInfo> {
        let pallet = self.pallets.iter().find(|p| p.name == pallet)?;
        let ty = self.types.resolve(pallet.calls?)?;
        let TypeDef::Variant(variants) = &ty.type_def else {
            return None;
        };
        let variant = variants.variants.iter().find(|v| v.name == call)?;
        Some(CallInfo {
            pallet_index: pallet.index,
            call_index: variant.index,
            args: variant
                .fields
                .iter()
                .map(|f| {
                    (
                        f.name.clone().unwrap_or_default(),
                        self.describe(f.ty.id, 0),
                    )
                })
                .collect(),
        })
    }

    /// The output type of a runtime API method, e.g. `("NeuronInfoRuntimeApi", "get_neurons_lite")`.
    pub fn runtime_api_output(&self, api: &str, method: &str) -> Option<u32> {
        self.apis
            .iter()
            .find(|(a, m, _)| a == api && m == method)
            .map(|(_, _, ty)| *ty)
    }

    /// Runtime API methods of one API, by name.
    pub fn runtime_api_methods(&self, api: &str) -> Vec<&str> {
        self.apis
            .iter()
            .filter(|(a, _, _)| a == api)
            .map(|(_, m, _)| m.as_str())
            .collect()
    }

    /// The value type of a storage entry.
    pub fn storage_value_type(&self, pallet: &str, entry: &str) -> Option<u32> {
        let pallet = self.pallets.iter().find(|p| p.name == pallet)?;
        pallet
            .storage
            .iter()
            .find(|(name, _)| name == entry)
            .map(|(_, ty)| *ty)
    }

    /// The type registry, for encoding and decoding values of this runtime.
    pub fn types(&self) -> &PortableRegistry {
        &self.types
    }

    /// Names of a pallet's calls.
    pub fn call_names(&self, pallet: &str) -> Vec<String> {
        let Some(pallet) = self.pallets.iter().find(|p| p.name == pallet) else {
            return Vec::new();
        };
        match pallet
            .calls
            .and_then(|id| self.types.resolve(id))
            .map(|t| &t.type_def)
        {
            Some(TypeDef::Variant(v)) => v.variants.iter().map(|v| v.name.clone()).collect(),
            _ => Vec::new(),
        }
    }

    /// Problems with the calls sn27 makes on this runtime; empty when all are as expected.
    pub fn check_calls(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (name, args) in CALLS_WE_USE {
            match self.call(SUBTENSOR_PALLET, name) {
                None => problems.push(format!(
                    "{SUBTENSOR_PALLET}.{name} does not exist in this runtime"
                )),
                Some(call) => {
                    let names: Vec<&str> = call.args.iter().map(|(n, _)| n.as_str()).collect();
                    if names != *args {
                        problems.push(format!(
                            "{SUBTENSOR_PALLET}.{name} takes ({}), sn27 sends ({})",
                            names.join(", "),
                            args.join(", ")
                        ));
                    }
                }
            }
        }
        problems
    }

    /// A type as Rust would write it, newtypes (`NetUid(u16)`) unwrapped to their content.
    fn describe(&self, id: u32, depth: usize) -> String {
        let Some(ty) = self.types.resolve(id) else {
            return format!("<unknown type {id}>");
        };
        if depth > 8 {
            return ty.path.ident().unwrap_or_else(|| "…".into());
        }
        describe_def(self, &ty.type_def, ty.path.ident(), depth)
    }
}

fn describe_def(
    catalogue: &RuntimeCatalogue,
    def: &TypeDef<PortableForm>,
    ident: Option<String>,
    depth: usize,
) -> String {
    match def {
        TypeDef::Primitive(p) => match p {
            TypeDefPrimitive::Bool => "bool",
            TypeDefPrimitive::Char => "char",
            TypeDefPrimitive::Str => "String",
            TypeDefPrimitive::U8 => "u8",
            TypeDefPrimitive::U16 => "u16",
            TypeDefPrimitive::U32 => "u32",
            TypeDefPrimitive::U64 => "u64",
            TypeDefPrimitive::U128 => "u128",
            TypeDefPrimitive::U256 => "u256",
            TypeDefPrimitive::I8 => "i8",
            TypeDefPrimitive::I16 => "i16",
            TypeDefPrimitive::I32 => "i32",
            TypeDefPrimitive::I64 => "i64",
            TypeDefPrimitive::I128 => "i128",
            TypeDefPrimitive::I256 => "i256",
        }
        .to_string(),
        TypeDef::Sequence(s) => format!("Vec<{}>", catalogue.describe(s.type_param.id, depth + 1)),
        TypeDef::Array(a) => format!(
            "[{}; {}]",
            catalogue.describe(a.type_param.id, depth + 1),
            a.len
        ),
        TypeDef::Compact(c) => format!(
            "Compact<{}>",
            catalogue.describe(c.type_param.id, depth + 1)
        ),
        TypeDef::Tuple(t) => {
            let inner: Vec<String> = t
                .fields
                .iter()
                .map(|f| catalogue.describe(f.id, depth + 1))
                .collect();
            format!("({})", inner.join(", "))
        }
        // A one-field struct is a newtype (NetUid, BoundedVec, AccountId32): show its content,
        // which is what gets encoded.
        TypeDef::Composite(c) if c.fields.len() == 1 => {
            catalogue.describe(c.fields[0].ty.id, depth + 1)
        }
        TypeDef::Composite(_) | TypeDef::Variant(_) | TypeDef::BitSequence(_) => {
            ident.unwrap_or_else(|| "<anonymous>".into())
        }
    }
}
