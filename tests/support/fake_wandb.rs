//! The local fake of the W&B API (`tests/python/fake_wandb.py`) and the reference's W&B
//! behaviour (`tests/python/wandb_peer.py`), for the W&B tests.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;
use sn27::config::WandbConfig;

use super::python;

/// The key the fake accepts (any other is refused with HTTP 401).
pub const API_KEY: &str = "0123456789abcdef0123456789abcdef01234567";

/// The fake W&B API, stopped when dropped.
pub struct FakeWandb {
    child: Child,
    pub base_url: String,
    log: PathBuf,
    dir: tempfile::TempDir,
}

impl FakeWandb {
    pub fn start() -> FakeWandb {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("requests.jsonl");
        let mut child = Command::new(python())
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/fake_wandb.py"))
            .args(["--port", "0", "--api-key", API_KEY, "--log"])
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("READY ")
            .unwrap_or_else(|| panic!("the fake W&B server printed {line:?}"));
        FakeWandb {
            child,
            base_url: format!("http://127.0.0.1:{port}"),
            log,
            dir,
        }
    }

    /// The requests seen so far.
    pub fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// `wandb_peer.py` with this server and key, in a scratch directory.
    pub fn peer(&self, args: &[&str]) -> Value {
        let scratch = self.dir.path().join("peer");
        std::fs::create_dir_all(&scratch).unwrap();
        let output = Command::new(python())
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/wandb_peer.py"))
            .args(args)
            .current_dir(&scratch)
            .env("WANDB_BASE_URL", &self.base_url)
            .env("WANDB_API_KEY", API_KEY)
            .env("WANDB_DIR", &scratch)
            .env("WANDB_CONFIG_DIR", &scratch)
            .env("WANDB_CACHE_DIR", &scratch)
            .env("WANDB_SILENT", "true")
            .env("HOME", &scratch)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "wandb_peer {args:?}:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let text = String::from_utf8_lossy(&output.stdout);
        serde_json::from_str(text.lines().last().unwrap_or_default())
            .unwrap_or_else(|e| panic!("wandb_peer printed {text:?}: {e}"))
    }

    pub fn config(&self, key_file: &Path) -> WandbConfig {
        WandbConfig {
            enabled: true,
            base_url: self.base_url.clone(),
            api_key_file: Some(key_file.to_path_buf()),
            ..WandbConfig::default()
        }
    }
}

impl Drop for FakeWandb {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl FakeWandb {
    /// A `[wandb]` section for a node of the tests: this server, the key in a 0600 file under
    /// `dir`, heartbeats every 2 s and reads every 3 blocks.
    pub fn section(&self, dir: &Path) -> String {
        use std::os::unix::fs::PermissionsExt;
        let key = dir.join("wandb-api-key");
        std::fs::write(&key, API_KEY).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        format!(
            "[wandb]\nenabled = true\nbase_url = \"{}\"\napi_key_file = \"{}\"\n\
             heartbeat_secs = 2\nread_interval_blocks = 3\n",
            self.base_url,
            key.display()
        )
    }
}
