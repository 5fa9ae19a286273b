//! Every failing command prints its error one way: `error: ` once, at the start of the first
//! line of stderr (the configuration's diagnostics carry their own `error:`/`warning:` and are
//! not prefixed again).

use crate::support::{sn27, stderr};

#[test]
fn every_failure_starts_with_one_error_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().display().to_string();
    let write = |name: &str, text: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    };
    let devnet = write(
        "devnet.toml",
        format!(
            "role = \"miner\"\nstate_dir = \"{state}\"\n[chain]\nnetwork = \"devnet\"\n\
             [wallet]\npath = \"{state}/wallets\"\n"
        ),
    );
    let unknown_key = write("bad.toml", "role = \"miner\"\nbogus = 1\n".into());
    let missing = format!("{state}/missing.toml");

    let cases: Vec<(Vec<&str>, String, i32)> = vec![
        (
            vec!["--config", &missing, "metagraph"],
            format!("error: {missing}: config file not found; copy sn27.toml.example there"),
            1,
        ),
        (
            vec!["--config", &missing, "wallet", "show"],
            format!("error: {missing}: config file not found"),
            1,
        ),
        (
            vec!["--config", &missing, "run"],
            format!("error: {missing}: config file not found"),
            1,
        ),
        (
            vec!["--config", &unknown_key, "chain", "info"],
            format!("error: {unknown_key}:2: bogus: unknown key"),
            1,
        ),
        (
            vec!["--config", &unknown_key, "config", "check"],
            format!("error: {unknown_key}:2: bogus: unknown key"),
            1,
        ),
        (
            vec!["--config", &devnet, "metagraph"],
            format!("error: no devnet at {state}/"),
            1,
        ),
        (
            vec!["--config", &devnet, "wallet", "show"],
            format!("error: no coldkeypub.txt at {state}/wallets/"),
            1,
        ),
        (
            vec!["--config", &devnet, "register", "--yes"],
            "error: no hotkey".to_string(),
            1,
        ),
        (
            vec!["--config", &devnet, "run"],
            "error: loading the hotkey: no hotkey".to_string(),
            1,
        ),
        (
            vec!["--config", &devnet, "devnet", "fund", "not-an-address", "1"],
            "error: ".to_string(),
            1,
        ),
        (
            vec!["no-such-command"],
            "error: unrecognized subcommand 'no-such-command'".to_string(),
            2,
        ),
    ];
    for (args, first, code) in cases {
        let out = sn27(&args, &[]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        let line = err.lines().next().unwrap_or_default();
        assert!(line.starts_with(&first), "{args:?}: first line {line:?}");
        assert!(
            !err.contains("error: error:") && !err.contains("Error: "),
            "{args:?}: {err}"
        );
    }
}
