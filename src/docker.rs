//! The Docker engine, through its API only (bollard): the runtime image rented containers run,
//! and the containers themselves.
//!
//! Invariants: nothing from a request reaches a shell string or a Dockerfile — the one
//! Dockerfile here is a constant around the operator's base image; commands run inside a
//! container are argv vectors; secrets (root password, authorized key) enter a container
//! through exec stdin and archive upload after it was created, never through image layers,
//! environment variables or command lines. Containers carry `sn27.*` labels, which is how
//! start-up reconciliation finds them.

use std::collections::HashMap;
use std::time::Duration;

use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::{
    ContainerCreateBody, DeviceRequest, HostConfig, PortBinding, RestartPolicy,
    RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    BuildImageOptionsBuilder, CreateContainerOptionsBuilder, ListContainersOptionsBuilder,
    RemoveContainerOptionsBuilder, RestartContainerOptionsBuilder, UploadToContainerOptionsBuilder,
};
use bollard::Docker;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

/// Label naming the allocation a container belongs to.
pub const LABEL_ALLOCATION: &str = "sn27.allocation";
/// Label `rental` or `test`.
pub const LABEL_KIND: &str = "sn27.kind";
/// Label naming the miner (hotkey ss58) whose allocation it is, so that reconciliation of one
/// miner never touches another's containers on a shared engine.
pub const LABEL_MINER: &str = "sn27.miner";

/// The Dockerfile of the runtime image; `{base}` is the operator's base image. It adds sshd
/// (root login with a password, SFTP from the distribution's package), removes host keys so
/// that every container generates its own at first start, silences login banners (the
/// validator fails a step on any stderr text), and makes the interpreter validators call
/// exist under both names they use: `/opt/conda/bin/python` and `python3` on `PATH`.
const RUNTIME_DOCKERFILE: &str = r#"FROM {base}
RUN set -e; \
    if [ ! -x /usr/sbin/sshd ]; then \
      apt-get update; \
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openssh-server; \
      rm -rf /var/lib/apt/lists/*; \
    fi; \
    mkdir -p /run/sshd /root/.ssh /etc/ssh/sshd_config.d; \
    chmod 700 /root/.ssh; \
    rm -f /etc/ssh/ssh_host_*_key /etc/ssh/ssh_host_*_key.pub /etc/motd; \
    printf 'PermitRootLogin yes\nPasswordAuthentication yes\nPrintMotd no\nPrintLastLog no\n' \
      > /etc/ssh/sshd_config.d/00-sn27.conf; \
    if ! grep -q '^Include /etc/ssh/sshd_config.d' /etc/ssh/sshd_config; then \
      sed -i '1i Include /etc/ssh/sshd_config.d/*.conf' /etc/ssh/sshd_config; \
    fi; \
    if [ ! -e /opt/conda/bin/python ] && command -v python3 >/dev/null 2>&1; then \
      mkdir -p /opt/conda/bin; ln -s "$(command -v python3)" /opt/conda/bin/python; \
    fi; \
    if ! command -v python3 >/dev/null 2>&1 && [ -x /opt/conda/bin/python ]; then \
      ln -s /opt/conda/bin/python /usr/local/bin/python3; \
    fi
LABEL sn27.runtime="1"
EXPOSE 22
CMD ["/bin/sh", "-c", "ssh-keygen -A >/dev/null 2>&1; exec /usr/sbin/sshd -D -e"]
"#;

/// Why a Docker operation failed: the operation in the operator's words, and the engine's
/// error (or what went wrong around it) as the source.
#[derive(Debug, thiserror::Error)]
#[error("docker: {what}")]
pub struct DockerError {
    pub what: String,
    #[source]
    pub source: DockerFailure,
}

/// The cause of a [`DockerError`].
#[derive(Debug, thiserror::Error)]
pub enum DockerFailure {
    /// The engine's API answered with an error or could not be reached.
    #[error(transparent)]
    Api(#[from] bollard::errors::Error),
    /// The engine did what was asked, but the result is not usable.
    #[error("{0}")]
    Result(String),
}

impl DockerError {
    fn new(what: impl Into<String>, reason: impl Into<String>) -> Self {
        DockerError {
            what: what.into(),
            source: DockerFailure::Result(reason.into()),
        }
    }
}

fn fail(what: impl Into<String>) -> impl FnOnce(bollard::errors::Error) -> DockerError {
    let what = what.into();
    move |e| DockerError {
        what,
        source: DockerFailure::Api(e),
    }
}

/// What the host offers containers.
#[derive(Debug, Clone, PartialEq)]
pub struct HostResources {
    pub cpus: u32,
    pub memory_bytes: u64,
    pub storage_driver: String,
    /// GPUs can be given to containers: the NVIDIA driver is loaded (`/dev/nvidiactl`) or the
    /// NVIDIA container runtime is registered with the engine.
    pub gpu_runtime: bool,
    /// Where the engine keeps images and containers.
    pub root_dir: String,
    /// The cgroup version the engine limits containers with (`1` or `2`), when it says.
    pub cgroup_version: Option<String>,
}

impl HostResources {
    /// Whether the storage driver can bound a container's disk (`--storage-opt size`).
    pub fn disk_quota_supported(&self) -> bool {
        // overlay2 needs xfs with project quotas, which the engine reports only at create
        // time; btrfs and zfs support it natively.
        matches!(self.storage_driver.as_str(), "btrfs" | "zfs")
    }
}

/// What one container gets.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerSpec {
    pub name: String,
    pub labels: HashMap<String, String>,
    /// Host port published for container port 22.
    pub ssh_port: u16,
    /// More `(container port, host port)` pairs to publish (TCP): a renter's own services.
    pub user_ports: Vec<(u16, u16)>,
    /// CPUs by index, e.g. `"1-3"`.
    pub cpuset: String,
    pub memory_bytes: i64,
    pub shm_bytes: i64,
    pub pids_limit: i64,
    /// Expose every GPU of the host.
    pub gpus: bool,
}

/// A container sn27 made, as listed by label.
#[derive(Debug, Clone, PartialEq)]
pub struct LabeledContainer {
    pub id: String,
    pub name: String,
    pub allocation: String,
    /// Docker's state: `created`, `running`, `paused`, `restarting`, `exited`, `dead`.
    pub state: String,
}

/// The output of a command run in a container.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecOutput {
    pub exit_code: i64,
    pub stdout: String,
    pub stderr: String,
}

/// The output of a command run in a container, as bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct RawExecOutput {
    pub exit_code: i64,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// The Docker engine on this host.
#[derive(Clone)]
pub struct ContainerEngine {
    docker: Docker,
}

impl ContainerEngine {
    /// Connects to the local engine (`DOCKER_HOST` or `/var/run/docker.sock`) and agrees on an
    /// API version it speaks.
    pub async fn connect() -> Result<Self, DockerError> {
        let docker = Docker::connect_with_local_defaults()
            .map_err(fail("connecting to the engine"))?
            .with_timeout(Duration::from_secs(120));
        let docker = docker
            .negotiate_version()
            .await
            .map_err(fail("reaching the engine (is dockerd running?)"))?;
        Ok(ContainerEngine { docker })
    }

    pub async fn host(&self) -> Result<HostResources, DockerError> {
        let info = self
            .docker
            .info()
            .await
            .map_err(fail("reading engine info"))?;
        Ok(HostResources {
            cpus: info.ncpu.unwrap_or(1).max(1) as u32,
            memory_bytes: info.mem_total.unwrap_or(0).max(0) as u64,
            storage_driver: info.driver.unwrap_or_default(),
            gpu_runtime: std::path::Path::new("/dev/nvidiactl").exists()
                || info
                    .runtimes
                    .map(|r| r.contains_key("nvidia"))
                    .unwrap_or(false),
            root_dir: info.docker_root_dir.unwrap_or_default(),
            cgroup_version: info.cgroup_version.map(|v| v.to_string()),
        })
    }

    /// Whether an image is present on this engine.
    pub async fn image_present(&self, reference: &str) -> bool {
        self.docker.inspect_image(reference).await.is_ok()
    }

    /// The tag of the runtime image for `base`: it changes when the base or the Dockerfile does.
    pub fn runtime_tag(base: &str) -> String {
        let digest = Sha256::digest(format!("{base}\n{RUNTIME_DOCKERFILE}"));
        format!("sn27-runtime:{}", &hex::encode(digest)[..12])
    }

    /// Builds the runtime image from `base` unless it exists; `progress` receives the build's
    /// output lines. Returns the tag.
    pub async fn ensure_runtime_image(
        &self,
        base: &str,
        mut progress: impl FnMut(&str),
    ) -> Result<String, DockerError> {
        let tag = Self::runtime_tag(base);
        if self.docker.inspect_image(&tag).await.is_ok() {
            return Ok(tag);
        }
        if base.is_empty() || base.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(DockerError::new(
                format!("building {tag}"),
                format!("{base:?} is not an image reference"),
            ));
        }
        let dockerfile = RUNTIME_DOCKERFILE.replace("{base}", base);
        let context = tar_of(&[("Dockerfile", dockerfile.as_bytes(), 0o644)]);
        let options = BuildImageOptionsBuilder::default()
            .dockerfile("Dockerfile")
            .t(&tag)
            .rm(true)
            .forcerm(true)
            .build();
        let mut stream =
            self.docker
                .build_image(options, None, Some(bollard::body_full(context.into())));
        while let Some(item) = stream.next().await {
            let info = item.map_err(fail(format!("building {tag} from {base}")))?;
            if let Some(error) = info.error_detail.and_then(|d| d.message) {
                return Err(DockerError::new(
                    format!("building {tag} from {base}"),
                    error,
                ));
            }
            if let Some(line) = info.stream {
                let line = line.trim_end();
                if !line.is_empty() {
                    progress(line);
                }
            }
        }
        self.docker
            .inspect_image(&tag)
            .await
            .map_err(fail(format!("inspecting {tag} after the build")))?;
        Ok(tag)
    }

    /// Creates and starts a container of `image` as `spec` says; returns its id.
    pub async fn create_and_start(
        &self,
        image: &str,
        spec: &ContainerSpec,
    ) -> Result<String, DockerError> {
        let binding = |host: u16| {
            Some(vec![PortBinding {
                host_ip: Some("0.0.0.0".into()),
                host_port: Some(host.to_string()),
            }])
        };
        let mut port_bindings = HashMap::from([("22/tcp".to_string(), binding(spec.ssh_port))]);
        for (inside, outside) in &spec.user_ports {
            port_bindings.insert(format!("{inside}/tcp"), binding(*outside));
        }
        let exposed: Vec<String> = port_bindings.keys().cloned().collect();
        let device_requests = spec.gpus.then(|| {
            vec![DeviceRequest {
                count: Some(-1),
                capabilities: Some(vec![vec!["gpu".to_string()]]),
                ..Default::default()
            }]
        });
        let host_config = HostConfig {
            port_bindings: Some(port_bindings),
            cpuset_cpus: Some(spec.cpuset.clone()),
            memory: Some(spec.memory_bytes),
            memory_swap: Some(spec.memory_bytes),
            shm_size: Some(spec.shm_bytes),
            pids_limit: Some(spec.pids_limit),
            device_requests,
            init: Some(true),
            restart_policy: Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                maximum_retry_count: None,
            }),
            ..Default::default()
        };
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            labels: Some(spec.labels.clone()),
            exposed_ports: Some(exposed),
            env: spec
                .gpus
                .then(|| vec!["NVIDIA_VISIBLE_DEVICES=all".to_string()]),
            host_config: Some(host_config),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::default()
            .name(&spec.name)
            .build();
        let created = self
            .docker
            .create_container(Some(options), body)
            .await
            .map_err(fail(format!("creating {}", spec.name)))?;
        self.docker
            .start_container(&created.id, None)
            .await
            .map_err(fail(format!("starting {}", spec.name)))?;
        Ok(created.id)
    }

    /// Runs `argv` in the container, feeding `stdin`, and collects its output as text.
    pub async fn exec(
        &self,
        id: &str,
        argv: &[&str],
        stdin: Option<&[u8]>,
    ) -> Result<ExecOutput, DockerError> {
        let raw = self.exec_bytes(id, argv, stdin, 16 << 20).await?;
        Ok(ExecOutput {
            exit_code: raw.exit_code,
            stdout: String::from_utf8_lossy(&raw.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&raw.stderr).into_owned(),
        })
    }

    /// Runs `argv` in the container, feeding `stdin`, and collects at most `limit` bytes of
    /// each output stream (more is an error, and the exec is left to finish on its own).
    pub async fn exec_bytes(
        &self,
        id: &str,
        argv: &[&str],
        stdin: Option<&[u8]>,
        limit: usize,
    ) -> Result<RawExecOutput, DockerError> {
        let what = format!("running {} in {}", argv.first().unwrap_or(&""), short(id));
        let exec = self
            .docker
            .create_exec(
                id,
                CreateExecOptions {
                    attach_stdin: Some(stdin.is_some()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    cmd: Some(argv.iter().map(|a| a.to_string()).collect()),
                    ..Default::default()
                },
            )
            .await
            .map_err(fail(what.clone()))?;
        let mut out = RawExecOutput {
            exit_code: -1,
            stdout: Vec::new(),
            stderr: Vec::new(),
        };
        match self
            .docker
            .start_exec(&exec.id, None)
            .await
            .map_err(fail(what.clone()))?
        {
            StartExecResults::Attached {
                mut output,
                mut input,
            } => {
                if let Some(data) = stdin {
                    input
                        .write_all(data)
                        .await
                        .map_err(|e| DockerError::new(what.clone(), e.to_string()))?;
                    input.shutdown().await.ok();
                }
                drop(input);
                while let Some(chunk) = output.next().await {
                    let (target, message) = match chunk.map_err(fail(what.clone()))? {
                        LogOutput::StdOut { message } => (&mut out.stdout, message),
                        LogOutput::StdErr { message } => (&mut out.stderr, message),
                        _ => continue,
                    };
                    if target.len() + message.len() > limit {
                        return Err(DockerError::new(
                            what,
                            format!("more than {limit} bytes of output"),
                        ));
                    }
                    target.extend_from_slice(&message);
                }
            }
            StartExecResults::Detached => {}
        }
        let inspect = self
            .docker
            .inspect_exec(&exec.id)
            .await
            .map_err(fail(what))?;
        out.exit_code = inspect.exit_code.unwrap_or(-1);
        Ok(out)
    }

    /// Sets root's password (through `chpasswd`'s stdin) and writes `authorized_keys`.
    pub async fn set_credentials(
        &self,
        id: &str,
        password: &str,
        authorized_keys: &str,
    ) -> Result<(), DockerError> {
        let line = zeroize::Zeroizing::new(format!("root:{password}\n"));
        let result = self.exec(id, &["chpasswd"], Some(line.as_bytes())).await?;
        if result.exit_code != 0 {
            return Err(DockerError::new(
                format!("setting the root password in {}", short(id)),
                format!(
                    "chpasswd exited {}: {}",
                    result.exit_code,
                    result.stderr.trim()
                ),
            ));
        }
        self.write_authorized_keys(id, authorized_keys).await
    }

    /// Replaces `/root/.ssh/authorized_keys` (mode 0600) by archive upload.
    pub async fn write_authorized_keys(&self, id: &str, keys: &str) -> Result<(), DockerError> {
        let archive = tar_of(&[(".ssh/authorized_keys", keys.as_bytes(), 0o600)]);
        let options = UploadToContainerOptionsBuilder::default()
            .path("/root")
            .build();
        self.docker
            .upload_to_container(id, Some(options), bollard::body_full(archive.into()))
            .await
            .map_err(fail(format!("writing authorized_keys in {}", short(id))))
    }

    /// `SHA256:…` of the container's ED25519 host key, waiting up to 10 s for sshd's first
    /// start to generate it.
    pub async fn host_key_fingerprint(&self, id: &str) -> Result<String, DockerError> {
        let mut last = String::new();
        for _ in 0..50 {
            let out = self
                .exec(
                    id,
                    &[
                        "ssh-keygen",
                        "-l",
                        "-f",
                        "/etc/ssh/ssh_host_ed25519_key.pub",
                    ],
                    None,
                )
                .await?;
            if out.exit_code == 0 {
                if let Some(fingerprint) = out.stdout.split_whitespace().nth(1) {
                    return Ok(fingerprint.to_string());
                }
            }
            last = out.stderr;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err(DockerError::new(
            format!("reading the host key of {}", short(id)),
            last.trim(),
        ))
    }

    pub async fn pause(&self, id: &str) -> Result<(), DockerError> {
        self.docker
            .pause_container(id)
            .await
            .map_err(fail(format!("pausing {}", short(id))))
    }

    pub async fn unpause(&self, id: &str) -> Result<(), DockerError> {
        self.docker
            .unpause_container(id)
            .await
            .map_err(fail(format!("unpausing {}", short(id))))
    }

    pub async fn restart(&self, id: &str) -> Result<(), DockerError> {
        let options = RestartContainerOptionsBuilder::default().t(10).build();
        self.docker
            .restart_container(id, Some(options))
            .await
            .map_err(fail(format!("restarting {}", short(id))))
    }

    pub async fn start(&self, id: &str) -> Result<(), DockerError> {
        self.docker
            .start_container(id, None)
            .await
            .map_err(fail(format!("starting {}", short(id))))
    }

    /// Removes a container, running or not; one that is already gone is not an error.
    pub async fn remove(&self, id: &str) -> Result<(), DockerError> {
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        match self.docker.remove_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(e) => Err(fail(format!("removing {}", short(id)))(e)),
        }
    }

    /// Docker's state of a container, `None` if it does not exist.
    pub async fn state(&self, id: &str) -> Result<Option<String>, DockerError> {
        match self.docker.inspect_container(id, None).await {
            Ok(inspect) => Ok(Some(
                inspect
                    .state
                    .and_then(|s| s.status)
                    .map(|s| s.to_string())
                    .unwrap_or_default(),
            )),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(fail(format!("inspecting {}", short(id)))(e)),
        }
    }

    /// Every container of `miner`'s allocations, in any state.
    pub async fn labeled(&self, miner: &str) -> Result<Vec<LabeledContainer>, DockerError> {
        let filters = HashMap::from([(
            "label".to_string(),
            vec![
                LABEL_ALLOCATION.to_string(),
                format!("{LABEL_MINER}={miner}"),
            ],
        )]);
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let list = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(fail("listing sn27 containers"))?;
        Ok(list
            .into_iter()
            .map(|c| LabeledContainer {
                id: c.id.unwrap_or_default(),
                name: c
                    .names
                    .and_then(|n| n.into_iter().next())
                    .unwrap_or_default()
                    .trim_start_matches('/')
                    .to_string(),
                allocation: c
                    .labels
                    .and_then(|l| l.get(LABEL_ALLOCATION).cloned())
                    .unwrap_or_default(),
                state: c.state.map(|s| s.to_string()).unwrap_or_default(),
            })
            .collect())
    }
}

/// Waits until sshd answers on the host's `port` with its `SSH-` banner (the container's sshd
/// starts after generating host keys), for at most `limit`.
pub async fn wait_for_ssh(port: u16, limit: Duration) -> Result<(), DockerError> {
    use tokio::io::AsyncReadExt;
    let deadline = tokio::time::Instant::now() + limit;
    let mut last = String::from("no answer");
    while tokio::time::Instant::now() < deadline {
        let attempt = async {
            let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
            let mut banner = [0u8; 4];
            stream.read_exact(&mut banner).await?;
            Ok::<_, std::io::Error>(banner)
        };
        match tokio::time::timeout(Duration::from_secs(2), attempt).await {
            Ok(Ok(banner)) if &banner == b"SSH-" => return Ok(()),
            Ok(Ok(banner)) => last = format!("unexpected banner {banner:?}"),
            Ok(Err(e)) => last = e.to_string(),
            Err(_) => last = "no banner within 2 s".into(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(DockerError::new(
        format!("waiting for sshd on port {port}"),
        last,
    ))
}

/// The first 12 characters of a container id, as `docker ps` shows it.
pub fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// A tar archive of regular files (owner root), with their parent directories (0700).
fn tar_of(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut dirs = std::collections::BTreeSet::new();
    for (path, _, _) in files {
        let mut parent = std::path::Path::new(path).parent();
        while let Some(dir) = parent.filter(|d| !d.as_os_str().is_empty()) {
            dirs.insert(dir.to_path_buf());
            parent = dir.parent();
        }
    }
    for dir in dirs {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o700);
        header.set_uid(0);
        header.set_gid(0);
        header.set_size(0);
        builder
            .append_data(&mut header, &dir, std::io::empty())
            .expect("writing to a Vec cannot fail");
    }
    for (path, data, mode) in files {
        let mut header = tar::Header::new_gnu();
        header.set_mode(*mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_size(data.len() as u64);
        builder
            .append_data(&mut header, path, *data)
            .expect("writing to a Vec cannot fail");
    }
    builder.into_inner().expect("writing to a Vec cannot fail")
}
