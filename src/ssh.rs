//! The SSH client a validator uses inside a miner's container: log in with the password from
//! the allocation's credentials, bind the host key, run commands, and move files through a
//! command's stdin and stdout (every SN27 container has a POSIX shell; no SFTP is needed).
//!
//! Host keys (defect #5 of the reference, which accepts any): a connection either expects a
//! fingerprint — the one an sn27 miner sends inside the sealed credentials, or the one the
//! first connection of the same test saw — and refuses any other, or records the key it is
//! shown so that the caller can bind the rest of the test to it and notice a change later.
//!
//! Every step is bounded: the connection, each command, and the output a command may return.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use russh::client::{self, ChannelOpenHandle, Handle, Msg};
use russh::keys::{HashAlg, PublicKeyOrCertificate};
use russh::{Channel, ChannelMsg, ChannelOpenFailure, Disconnect};
use zeroize::Zeroizing;

/// Why an SSH step failed, in the operator's words.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("connecting to {addr}: {reason}")]
    Connect { addr: SocketAddr, reason: String },
    #[error("no SSH session with {addr} within {limit:?}")]
    ConnectTimeout { addr: SocketAddr, limit: Duration },
    #[error("{addr} showed host key {found}, expected {expected}")]
    HostKeyMismatch {
        addr: SocketAddr,
        expected: String,
        found: String,
    },
    #[error("{addr} refused the password of {user}")]
    AuthFailed { addr: SocketAddr, user: String },
    #[error("`{command}` did not finish within {limit:?}")]
    CommandTimeout { command: String, limit: Duration },
    #[error("`{command}` wrote more than {limit} bytes")]
    TooMuchOutput { command: String, limit: usize },
    #[error("`{command}`: {reason}")]
    Channel { command: String, reason: String },
}

/// What the client accepts as the server's host key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyPolicy {
    /// Only this `SHA256:…` fingerprint.
    Expect(String),
    /// Any key; the session reports which one it saw.
    Record,
}

/// Where to log in.
#[derive(Clone)]
pub struct Login {
    pub addr: SocketAddr,
    pub username: String,
    pub password: Zeroizing<String>,
    pub host_key: HostKeyPolicy,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("addr", &self.addr)
            .field("username", &self.username)
            .field("host_key", &self.host_key)
            .finish_non_exhaustive()
    }
}

/// The output of one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutput {
    /// `None` when the server closed the channel without an exit status.
    pub status: Option<u32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// From sending the command until the channel closed, measured here.
    pub elapsed: Duration,
}

/// Checks the server's key during key exchange.
struct Client {
    policy: HostKeyPolicy,
    seen: Arc<Mutex<Option<String>>>,
}

impl client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let fingerprint = key.public_key().fingerprint(HashAlg::Sha256).to_string();
        let accepted = match &self.policy {
            HostKeyPolicy::Expect(expected) => *expected == fingerprint,
            HostKeyPolicy::Record => true,
        };
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(fingerprint);
        Ok(accepted)
    }

    // The server is a miner's container: every channel it opens towards us (forwarded ports,
    // agent, X11, sessions; russh accepts most by default) is refused, so a hostile miner
    // cannot make the validator hold channels it never asked for.

    async fn server_channel_open_forwarded_tcpip(
        &mut self,
        _channel: Channel<Msg>,
        _connected_address: &str,
        _connected_port: u32,
        _originator_address: &str,
        _originator_port: u32,
        reply: ChannelOpenHandle,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        refuse(reply).await
    }

    async fn server_channel_open_forwarded_streamlocal(
        &mut self,
        _channel: Channel<Msg>,
        _socket_path: &str,
        reply: ChannelOpenHandle,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        refuse(reply).await
    }

    async fn server_channel_open_agent_forward(
        &mut self,
        _channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        refuse(reply).await
    }

    async fn server_channel_open_unknown(
        &mut self,
        _channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        refuse(reply).await
    }

    async fn server_channel_open_session(
        &mut self,
        _channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        refuse(reply).await
    }

    async fn server_channel_open_direct_tcpip(
        &mut self,
        _channel: Channel<Msg>,
        _host_to_connect: &str,
        _port_to_connect: u32,
        _originator_address: &str,
        _originator_port: u32,
        reply: ChannelOpenHandle,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        refuse(reply).await
    }

    async fn server_channel_open_direct_streamlocal(
        &mut self,
        _channel: Channel<Msg>,
        _socket_path: &str,
        reply: ChannelOpenHandle,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        refuse(reply).await
    }

    async fn server_channel_open_x11(
        &mut self,
        _channel: Channel<Msg>,
        _originator_address: &str,
        _originator_port: u32,
        reply: ChannelOpenHandle,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        refuse(reply).await
    }
}

async fn refuse(reply: ChannelOpenHandle) -> Result<(), russh::Error> {
    reply
        .reject(ChannelOpenFailure::AdministrativelyProhibited)
        .await;
    Ok(())
}

/// A logged-in session.
pub struct Session {
    handle: Handle<Client>,
    addr: SocketAddr,
    fingerprint: String,
}

impl Session {
    /// Connects, checks the host key and logs in, all within `limit`.
    pub async fn open(login: &Login, limit: Duration) -> Result<Session, SshError> {
        let addr = login.addr;
        match tokio::time::timeout(limit, Self::open_unbounded(login)).await {
            Ok(result) => result,
            Err(_) => Err(SshError::ConnectTimeout { addr, limit }),
        }
    }

    async fn open_unbounded(login: &Login) -> Result<Session, SshError> {
        let addr = login.addr;
        let config = Arc::new(client::Config {
            inactivity_timeout: Some(Duration::from_secs(600)),
            nodelay: true,
            ..client::Config::default()
        });
        let seen = Arc::new(Mutex::new(None));
        let handler = Client {
            policy: login.host_key.clone(),
            seen: seen.clone(),
        };
        let connected = client::connect(config, addr, handler).await;
        let found = seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut handle = match connected {
            Ok(handle) => handle,
            Err(error) => {
                // A refused key surfaces as a failed key exchange; name it for what it is.
                if let (HostKeyPolicy::Expect(expected), Some(found)) = (&login.host_key, found) {
                    if *expected != found {
                        return Err(SshError::HostKeyMismatch {
                            addr,
                            expected: expected.clone(),
                            found,
                        });
                    }
                }
                return Err(SshError::Connect {
                    addr,
                    reason: error.to_string(),
                });
            }
        };
        let fingerprint = found.unwrap_or_default();
        let auth = handle
            .authenticate_password(login.username.clone(), login.password.as_str())
            .await
            .map_err(|e| SshError::Connect {
                addr,
                reason: format!("authentication: {e}"),
            })?;
        if !auth.success() {
            return Err(SshError::AuthFailed {
                addr,
                user: login.username.clone(),
            });
        }
        Ok(Session {
            handle,
            addr,
            fingerprint,
        })
    }

    /// `SHA256:…` of the host key the server showed.
    pub fn host_key_fingerprint(&self) -> &str {
        &self.fingerprint
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Runs `command` (through the server's shell), feeding `stdin`, and collects its output:
    /// at most `limit` bytes of stdout and of stderr, within `timeout`.
    pub async fn run(
        &self,
        command: &str,
        stdin: Option<&[u8]>,
        limit: usize,
        timeout: Duration,
    ) -> Result<CommandOutput, SshError> {
        let started = Instant::now();
        match tokio::time::timeout(timeout, self.run_unbounded(command, stdin, limit, started))
            .await
        {
            Ok(result) => result,
            Err(_) => Err(SshError::CommandTimeout {
                command: shorten(command),
                limit: timeout,
            }),
        }
    }

    async fn run_unbounded(
        &self,
        command: &str,
        stdin: Option<&[u8]>,
        limit: usize,
        started: Instant,
    ) -> Result<CommandOutput, SshError> {
        let channel_error = |e: russh::Error| SshError::Channel {
            command: shorten(command),
            reason: e.to_string(),
        };
        let mut channel = self
            .handle
            .channel_open_session()
            .await
            .map_err(channel_error)?;
        channel.exec(true, command).await.map_err(channel_error)?;
        if let Some(data) = stdin {
            channel.data(data).await.map_err(channel_error)?;
        }
        channel.eof().await.map_err(channel_error)?;
        let mut output = CommandOutput {
            status: None,
            stdout: Vec::new(),
            stderr: Vec::new(),
            elapsed: Duration::ZERO,
        };
        let too_much = || SshError::TooMuchOutput {
            command: shorten(command),
            limit,
        };
        while let Some(message) = channel.wait().await {
            match message {
                ChannelMsg::Data { data } => {
                    if output.stdout.len() + data.len() > limit {
                        return Err(too_much());
                    }
                    output.stdout.extend_from_slice(&data);
                }
                ChannelMsg::ExtendedData { data, .. } => {
                    if output.stderr.len() + data.len() > limit {
                        return Err(too_much());
                    }
                    output.stderr.extend_from_slice(&data);
                }
                ChannelMsg::ExitStatus { exit_status } => output.status = Some(exit_status),
                ChannelMsg::Close => break,
                _ => {}
            }
        }
        output.elapsed = started.elapsed();
        Ok(output)
    }

    /// Writes `contents` to `path` in the container (mode 0600): `path` must be a plain
    /// absolute path, since it is part of a shell command.
    pub async fn upload(
        &self,
        path: &str,
        contents: &[u8],
        timeout: Duration,
    ) -> Result<(), SshError> {
        check_path(path)?;
        let command = format!("umask 077; cat > {path}");
        let out = self
            .run(&command, Some(contents), 64 * 1024, timeout)
            .await?;
        if out.status != Some(0) || !out.stderr.iter().all(u8::is_ascii_whitespace) {
            return Err(SshError::Channel {
                command,
                reason: format!(
                    "exit status {:?}: {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            });
        }
        Ok(())
    }

    /// Reads `path` (at most `limit` bytes) from the container.
    pub async fn download(
        &self,
        path: &str,
        limit: usize,
        timeout: Duration,
    ) -> Result<Vec<u8>, SshError> {
        check_path(path)?;
        let command = format!("cat {path}");
        let out = self.run(&command, None, limit, timeout).await?;
        if out.status != Some(0) {
            return Err(SshError::Channel {
                command,
                reason: format!(
                    "exit status {:?}: {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            });
        }
        Ok(out.stdout)
    }

    /// Ends the session politely (the server may already be gone; that is fine).
    pub async fn close(self) {
        let _ = self
            .handle
            .disconnect(Disconnect::ByApplication, "", "en")
            .await;
    }
}

/// A path that can stand in a shell command unquoted.
fn check_path(path: &str) -> Result<(), SshError> {
    let fine = path.starts_with('/')
        && path.len() <= 256
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_.-".contains(c));
    if fine {
        Ok(())
    } else {
        Err(SshError::Channel {
            command: shorten(path),
            reason: "not a plain absolute path".into(),
        })
    }
}

/// A command as it appears in errors: long ones (an inline script) cut short.
fn shorten(command: &str) -> String {
    let mut text: String = command.chars().take(120).collect();
    if text.len() < command.len() {
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_absolute_paths_reach_a_command_line() {
        assert!(check_path("/tmp/sn27-pog-abc/responses.json").is_ok());
        for bad in ["tmp/x", "/tmp/x; rm -rf /", "/tmp/$(id)", "/tmp/a b", ""] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn logins_do_not_print_passwords() {
        let login = Login {
            addr: "127.0.0.1:22".parse().unwrap(),
            username: "root".into(),
            password: Zeroizing::new("hunter2".into()),
            host_key: HostKeyPolicy::Record,
        };
        assert!(!format!("{login:?}").contains("hunter2"));
    }
}
