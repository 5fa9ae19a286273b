//! Layering the configuration and reporting every problem in it at once.
//!
//! figment merges the layers and serde checks types and unknown keys, but serde stops at the
//! first mistake. To report them all, each failed extraction records its error, removes the
//! offending key from the merged data (so the default applies) and tries again. Every
//! diagnostic is then attributed to where its key was set: `file:line` (found with
//! `toml_edit`'s spans), an `SN27_*` variable, or the built-in defaults.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use figment::error::Kind;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::{Dict, Value};
use figment::Figment;
use serde::de::DeserializeOwned;

use super::diagnostic::{Diagnostic, Severity};
use super::validate::validate;
use super::{Config, MinerProfile, ScoringProfile};

/// Environment variables read as configuration start with this prefix.
pub const ENV_PREFIX: &str = "SN27_";
/// `SN27_*` variables that are not configuration keys: the config path.
const ENV_NOT_KEYS: &[&str] = &["CONFIG"];
/// Bound on the remove-and-retry loop; each round removes one key, so a file would need this
/// many separate mistakes to hit it.
const MAX_ERRORS: usize = 200;

/// Which file to read and whether the user named it.
#[derive(Debug, Clone)]
pub struct ConfigSource {
    pub path: PathBuf,
    /// Named with `--config` or `SN27_CONFIG`: a missing file is then an error even for
    /// commands that can run on defaults.
    pub explicit: bool,
}

/// A configuration that passed every check, with the warnings it raised.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<Diagnostic>,
    /// The file that was read, if any.
    pub file: Option<PathBuf>,
}

/// Every problem found; at least one is an error.
#[derive(Debug)]
pub struct LoadError {
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, diagnostic) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{diagnostic}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadError {}

/// Loads, layers and validates the whole configuration.
pub fn load(source: &ConfigSource) -> Result<Loaded, LoadError> {
    load_layers(Layers::read(source, true)?)
}

/// [`load`] for commands that measure the host before anything is configured (`sn27 bench`,
/// `sn27 check`): when the default file does not exist, the built-in defaults and the
/// environment are loaded and validated instead, as a miner's unless the environment names
/// a role (`Loaded::file` is then `None`). A file named with `--config` or `SN27_CONFIG` must
/// still exist.
pub fn load_or_defaults(source: &ConfigSource) -> Result<Loaded, LoadError> {
    load_layers(Layers::read(source, false)?)
}

fn load_layers(layers: Layers) -> Result<Loaded, LoadError> {
    let mut diagnostics = Vec::new();
    let mut failed_keys = BTreeSet::new();
    let mut config = layers.extract_all(&mut diagnostics, &mut failed_keys);
    if layers.file.is_none() && config.role.is_none() {
        // Only `load_or_defaults` gets here without a file: a host not configured yet is
        // measured as the GPU host a miner runs on.
        config.role = Some(super::Role::Miner);
    }
    for (severity, path, message) in validate(&config) {
        if failed_keys
            .iter()
            .any(|failed| path.starts_with(failed) || failed.starts_with(&path))
        {
            // The value was already reported as unusable; its default is what got validated.
            continue;
        }
        diagnostics.push(layers.diagnostic(severity, &path, message));
    }
    finish(diagnostics, config, &layers)
}

/// Loads one section (e.g. `wallet`) for commands that need nothing else. A missing default
/// file is fine here: defaults and the environment still apply.
pub fn load_section<T: DeserializeOwned>(
    source: &ConfigSource,
    section: &str,
) -> Result<T, LoadError> {
    let layers = Layers::read(source, false)?;
    layers
        .figment()
        .extract_inner::<T>(section)
        .map_err(|error| {
            let diagnostics = error
                .into_iter()
                .map(|e| {
                    let path = error_path(&e);
                    let message = describe(&e.kind);
                    layers.diagnostic(Severity::Error, &path, message)
                })
                .collect();
            LoadError { diagnostics }
        })
}

fn finish(
    mut diagnostics: Vec<Diagnostic>,
    config: Config,
    layers: &Layers,
) -> Result<Loaded, LoadError> {
    // File problems in line order, then the environment's and the defaults'.
    diagnostics.sort_by_key(|d| (d.line.is_none(), d.line));
    if diagnostics.iter().any(|d| d.severity == Severity::Error) {
        return Err(LoadError { diagnostics });
    }
    Ok(Loaded {
        config,
        warnings: diagnostics,
        file: layers.file.as_ref().map(|f| f.path.clone()),
    })
}

/// The file layer's text, parsed once for its spans.
struct FileLayer {
    path: PathBuf,
    text: String,
    document: toml_edit::ImDocument<String>,
}

/// The three layers, ready to merge.
struct Layers {
    file: Option<FileLayer>,
    /// `SN27_*` variables as (variable name, dotted key path).
    env_keys: Vec<(String, Vec<String>)>,
}

impl Layers {
    fn read(source: &ConfigSource, require_file: bool) -> Result<Layers, LoadError> {
        let fail = |message: String| LoadError {
            diagnostics: vec![Diagnostic {
                severity: Severity::Error,
                key: String::new(),
                origin: source.path.display().to_string(),
                line: None,
                message,
            }],
        };
        let file = match std::fs::read_to_string(&source.path) {
            Ok(text) => {
                let document = toml_edit::ImDocument::parse(text.clone()).map_err(|e| {
                    let (line, column) = e
                        .span()
                        .map(|span| line_column(&text, span.start))
                        .unwrap_or((1, 1));
                    fail(format!(
                        "line {line}, column {column}: TOML syntax error: {}",
                        e.message()
                    ))
                })?;
                Some(FileLayer {
                    path: source.path.clone(),
                    text,
                    document,
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if require_file || source.explicit {
                    return Err(fail(format!(
                        "config file not found; copy sn27.toml.example there (`sn27 config \
                         example > {}`) or pass --config",
                        source.path.display()
                    )));
                }
                None
            }
            Err(e) => return Err(fail(format!("cannot read config file: {e}"))),
        };
        let env_keys = std::env::vars_os()
            .filter_map(|(name, _)| name.into_string().ok())
            .filter_map(|name| {
                let rest = name.strip_prefix(ENV_PREFIX)?;
                if ENV_NOT_KEYS.contains(&rest) {
                    return None;
                }
                let path = rest.split("__").map(str::to_lowercase).collect();
                Some((name, path))
            })
            .collect();
        Ok(Layers { file, env_keys })
    }

    fn env() -> Env {
        Env::prefixed(ENV_PREFIX).ignore(ENV_NOT_KEYS).split("__")
    }

    /// File and environment only, to peek at the chosen profile.
    fn user_layers(&self) -> Figment {
        let mut figment = Figment::new();
        if let Some(file) = &self.file {
            figment = figment.merge(Toml::string(&file.text));
        }
        figment.merge(Self::env())
    }

    fn figment(&self) -> Figment {
        // The profile decides the scoring defaults, so it is read before the defaults layer
        // is built. A bad profile value is reported by the full extraction below.
        let profile = self
            .user_layers()
            .extract_inner::<ScoringProfile>("scoring.profile")
            .unwrap_or_default();
        let miner = self
            .user_layers()
            .extract_inner::<MinerProfile>("miner.profile")
            .unwrap_or_default();
        Figment::from(Serialized::defaults(Config::defaults_for(profile, miner)))
            .merge(self.user_layers())
    }

    /// Extracts the config, collecting every type error and unknown key on the way; offending
    /// keys fall back to their defaults so that validation can still run on the rest.
    fn extract_all(
        &self,
        diagnostics: &mut Vec<Diagnostic>,
        failed_keys: &mut BTreeSet<Vec<String>>,
    ) -> Config {
        let figment = self.figment();
        let mut data: Dict = match figment.extract() {
            Ok(data) => data,
            Err(error) => {
                diagnostics.push(self.diagnostic(Severity::Error, &[], error.to_string()));
                return Config::default();
            }
        };
        loop {
            let error = match Figment::from(Serialized::defaults(&data)).extract::<Config>() {
                Ok(config) => return config,
                Err(error) => error,
            };
            let mut removed_any = false;
            for error in error {
                let path = error_path(&error);
                diagnostics.push(self.diagnostic(Severity::Error, &path, describe(&error.kind)));
                removed_any |= remove_path(&mut data, &path);
                failed_keys.insert(path);
            }
            if !removed_any || diagnostics.len() >= MAX_ERRORS {
                return Config::default();
            }
        }
    }

    /// Builds a diagnostic, finding where `path` was set.
    fn diagnostic(&self, severity: Severity, path: &[String], message: String) -> Diagnostic {
        let (origin, line) = self.origin(path);
        Diagnostic {
            severity,
            key: display_key(path),
            origin,
            line,
            message,
        }
    }

    /// Where `path` was set: an environment variable, a line of the file, or nowhere (the
    /// built-in defaults).
    fn origin(&self, path: &[String]) -> (String, Option<usize>) {
        // The environment is the last layer, so a key set there wins over the file.
        let from_env = self
            .env_keys
            .iter()
            .filter(|(_, key)| !path.is_empty() && (path.starts_with(key) || key.starts_with(path)))
            .map(|(name, _)| name.as_str())
            .collect::<Vec<_>>();
        if !from_env.is_empty() {
            return (
                format!("environment variable {}", from_env.join(", ")),
                None,
            );
        }
        if let Some(file) = &self.file {
            if path.is_empty() {
                return (file.path.display().to_string(), None);
            }
            if let Some(offset) = locate(file.document.as_table(), path) {
                let (line, _) = line_column(&file.text, offset);
                return (format!("{}:{line}", file.path.display()), Some(line));
            }
        }
        ("defaults".into(), None)
    }
}

/// The full key path of an error; for unknown fields the field itself is part of the path.
fn error_path(error: &figment::Error) -> Vec<String> {
    let mut path = error.path.clone();
    if let Kind::UnknownField(field, _) = &error.kind {
        // figment usually includes the field in the path already; serde alone does not.
        if path.last() != Some(field) {
            path.push(field.clone());
        }
    }
    path
}

/// Describes an error in the operator's words.
fn describe(kind: &Kind) -> String {
    match kind {
        Kind::UnknownField(field, expected) => {
            let mut message = "unknown key".to_string();
            if field == "api_key" {
                message.push_str(
                    "; API keys never go in the config file: set api_key_env (a variable name) \
                     or api_key_file (a path)",
                );
            } else if field.contains("password")
                && !field.ends_with("_env")
                && !field.ends_with("_file")
            {
                message.push_str(
                    "; passwords never go in the config file: set password_env (a variable \
                     name) or password_file (a path)",
                );
            } else if let Some(close) = closest(field, expected) {
                message.push_str(&format!("; did you mean `{close}`?"));
            } else if !expected.is_empty() {
                message.push_str(&format!("; expected one of: {}", expected.join(", ")));
            }
            message
        }
        Kind::InvalidType(actual, expected) => format!(
            "wrong type: expected {}, found {}",
            plain_type(expected),
            plain_actual(actual)
        ),
        Kind::InvalidValue(actual, expected) => format!(
            "invalid value: expected {}, found {}",
            plain_type(expected),
            plain_actual(actual)
        ),
        Kind::UnknownVariant(found, expected) => format!(
            "unknown value {found:?}; expected one of: {}",
            expected
                .iter()
                .map(|v| format!("{v:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Kind::MissingField(field) => format!("missing required key `{field}`"),
        other => other.to_string(),
    }
}

/// serde's type names, in words an operator reads.
fn plain_type(expected: &str) -> String {
    match expected {
        "u8" => "an integer from 0 to 255".into(),
        "u16" => "an integer from 0 to 65535".into(),
        "u32" => "an integer from 0 to 4294967295".into(),
        "u64" => "a non-negative integer".into(),
        "f64" | "f32" => "a number".into(),
        "a boolean" | "bool" => "true or false".into(),
        other => other.into(),
    }
}

/// figment's description of a found value, without Rust's integer vocabulary.
fn plain_actual(actual: &figment::error::Actual) -> String {
    actual
        .to_string()
        .replace("unsigned int", "integer")
        .replace("signed int", "integer")
}

/// The expected name within edit distance 2 of `found`, if any.
fn closest<'a>(found: &str, expected: &[&'a str]) -> Option<&'a str> {
    expected
        .iter()
        .map(|candidate| (edit_distance(found, candidate), *candidate))
        .filter(|(distance, _)| *distance <= 2)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// `["scoring", "gpu", "3", "score"]` → `scoring.gpu[3].score`.
fn display_key(path: &[String]) -> String {
    let mut key = String::new();
    for segment in path {
        if segment.parse::<usize>().is_ok() {
            key.push_str(&format!("[{segment}]"));
        } else {
            if !key.is_empty() {
                key.push('.');
            }
            key.push_str(segment);
        }
    }
    key
}

/// Removes the deepest existing node along `path`. Returns whether anything was removed.
fn remove_path(data: &mut Dict, path: &[String]) -> bool {
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    if rest.is_empty() || !data.contains_key(first) {
        return data.remove(first).is_some();
    }
    let child = data.get_mut(first).expect("checked above");
    if remove_in_value(child, rest) {
        return true;
    }
    data.remove(first).is_some()
}

fn remove_in_value(value: &mut Value, path: &[String]) -> bool {
    match value {
        Value::Dict(_, dict) => remove_path(dict, path),
        Value::Array(_, items) => {
            let Some(index) = path[0].parse::<usize>().ok().filter(|i| *i < items.len()) else {
                return false;
            };
            if path.len() > 1 && remove_in_value(&mut items[index], &path[1..]) {
                return true;
            }
            items.remove(index);
            true
        }
        _ => false,
    }
}

/// Byte offset where `path` is written in the file, or `None` when the file does not set it.
fn locate(table: &toml_edit::Table, path: &[String]) -> Option<usize> {
    let (first, rest) = path.split_first()?;
    let (key, item) = table.get_key_value(first)?;
    if rest.is_empty() {
        return key.span().or_else(|| item.span()).map(|span| span.start);
    }
    locate_in_item(item, rest)
}

fn locate_in_item(item: &toml_edit::Item, path: &[String]) -> Option<usize> {
    match item {
        toml_edit::Item::Table(table) => locate(table, path),
        toml_edit::Item::ArrayOfTables(tables) => {
            let table = tables.get(path[0].parse().ok()?)?;
            if path.len() == 1 {
                return table.span().map(|span| span.start);
            }
            locate(table, &path[1..])
        }
        toml_edit::Item::Value(value) => locate_in_value(value, path),
        toml_edit::Item::None => None,
    }
}

fn locate_in_value(value: &toml_edit::Value, path: &[String]) -> Option<usize> {
    match value {
        toml_edit::Value::InlineTable(table) => {
            let (key, item) = table.get_key_value(&path[0])?;
            if path.len() == 1 {
                return key.span().or_else(|| item.span()).map(|span| span.start);
            }
            locate_in_item(item, &path[1..])
        }
        toml_edit::Value::Array(array) => {
            let element = array.get(path[0].parse().ok()?)?;
            if path.len() == 1 {
                return element.span().map(|span| span.start);
            }
            locate_in_value(element, &path[1..])
        }
        _ => None,
    }
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

/// The file the CLI should read: `--config`, else `SN27_CONFIG`, else the default path.
pub fn resolve_source(flag: Option<&Path>) -> ConfigSource {
    if let Some(path) = flag {
        return ConfigSource {
            path: path.to_owned(),
            explicit: true,
        };
    }
    match std::env::var_os("SN27_CONFIG") {
        Some(path) if !path.is_empty() => ConfigSource {
            path: PathBuf::from(path),
            explicit: true,
        },
        _ => ConfigSource {
            path: PathBuf::from(super::DEFAULT_CONFIG_PATH),
            explicit: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_and_suggestions() {
        assert_eq!(edit_distance("ssh_prot", "ssh_port"), 2);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(
            closest("ssh_prot", &["ssh_port", "min_validator_stake"]),
            Some("ssh_port")
        );
        assert_eq!(closest("zzzzzz", &["ssh_port"]), None);
    }

    #[test]
    fn keys_display_with_indices() {
        let path: Vec<String> = ["scoring", "gpu", "3", "score"].map(String::from).to_vec();
        assert_eq!(display_key(&path), "scoring.gpu[3].score");
    }

    #[test]
    fn lines_are_found_for_nested_keys() {
        let text = "role = \"miner\"\n\n[axon]\nport = 1\n\n[[scoring.gpu]]\nname = \"x\"\n\n[[scoring.gpu]]\nname = \"y\"\nscore = -1.0\n";
        let document = toml_edit::ImDocument::parse(text.to_string()).unwrap();
        let find = |path: &[&str]| {
            let path: Vec<String> = path.iter().map(|s| s.to_string()).collect();
            locate(document.as_table(), &path).map(|offset| line_column(text, offset).0)
        };
        assert_eq!(find(&["role"]), Some(1));
        assert_eq!(find(&["axon", "port"]), Some(4));
        assert_eq!(find(&["scoring", "gpu", "1", "score"]), Some(11));
        assert_eq!(find(&["scoring", "gpu", "1"]), Some(9));
        assert_eq!(find(&["scoring", "gpu", "1", "missing"]), None);
        assert_eq!(find(&["nothing"]), None);
    }
}
