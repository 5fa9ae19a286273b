//! Fuzzes the configuration loader (`config::load`): TOML parsing, the layering over the
//! built-in defaults, the remove-and-retry loop that reports every problem, the diagnostics'
//! `file:line` attribution and the validation, on an arbitrary file body. The loader only
//! reads paths, so each input is written to one temporary file per process, overwritten for
//! every input.
//!
//! Input layout: the whole input is the file's body (`sn27.toml`).
//!
//! `SN27_*` variables are removed at start, so that the environment layer is empty and a
//! finding reproduces anywhere. Besides "never panics": a configuration `load` accepts has no
//! error left (`config::problems` finds none), and every reported problem is rendered.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sn27::config::{load, load_section, problems, ConfigSource, WalletConfig, ENV_PREFIX};

fn source() -> &'static ConfigSource {
    static SOURCE: OnceLock<ConfigSource> = OnceLock::new();
    SOURCE.get_or_init(|| {
        let names: Vec<_> = std::env::vars_os()
            .filter(|(name, _)| name.to_string_lossy().starts_with(ENV_PREFIX))
            .map(|(name, _)| name)
            .collect();
        for name in names {
            std::env::remove_var(name);
        }
        let path: PathBuf =
            std::env::temp_dir().join(format!("sn27-fuzz-config-{}.toml", std::process::id()));
        ConfigSource {
            path,
            explicit: true,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let source = source();
    std::fs::write(&source.path, data).expect("the temporary config file is writable");
    match load(source) {
        Ok(loaded) => {
            assert_eq!(problems(&loaded.config), Vec::<String>::new());
            for warning in &loaded.warnings {
                let _ = warning.to_string();
            }
        }
        Err(error) => {
            assert!(
                !error.diagnostics.is_empty(),
                "an error names at least one problem"
            );
            let _ = error.to_string();
        }
    }
    // What `sn27 wallet` and friends read alone.
    if let Err(error) = load_section::<WalletConfig>(source, "wallet") {
        let _ = error.to_string();
    }
});
