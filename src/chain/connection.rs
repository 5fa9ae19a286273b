//! Reaching a subtensor node, and why it could not be reached, in words.
//!
//! The websocket client reports a failed first connection as one opaque error after retrying
//! on its own; an operator needs the cause at once: a name that does not resolve, a port
//! nothing listens on, a TLS failure, a host that does not answer. So the first connection is
//! made in steps — resolve the host, open TCP, then the (TLS and) websocket handshake — each
//! failure named by [`ConnectFailure`]. One-shot commands report it; the service
//! ([`super::connect_retrying`]) keeps trying with backoff and logs each new cause.

use std::net::SocketAddr;
use std::time::Duration;

/// Why a node could not be reached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectFailure {
    #[error("not a usable ws:// or wss:// URL: {0}")]
    BadUrl(String),
    #[error("host name {host} does not resolve ({reason}); check the URL and this machine's DNS")]
    Dns { host: String, reason: String },
    #[error(
        "connection refused by {addr}: nothing listens there; is the node running, and are host \
         and port right?"
    )]
    Refused { addr: SocketAddr },
    #[error("{addr} cannot be reached: {reason}")]
    Network { addr: SocketAddr, reason: String },
    #[error("no answer within {} s while {stage}", limit.as_secs_f32())]
    Timeout {
        stage: &'static str,
        limit: Duration,
    },
    #[error(
        "TLS handshake with {host} failed: {reason} (a wss:// URL needs a node behind TLS with a \
         certificate this machine trusts; a plain node is ws://)"
    )]
    Tls { host: String, reason: String },
    #[error("websocket handshake failed: {reason} (is this a subtensor node's RPC endpoint?)")]
    Handshake { reason: String },
}

/// The parts of a `ws://` or `wss://` URL a connection needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub secure: bool,
    /// The host as written, without brackets around an IPv6 address.
    pub host: String,
    pub port: u16,
}

impl Endpoint {
    pub fn parse(url: &str) -> Result<Endpoint, ConnectFailure> {
        let bad = |why: &str| ConnectFailure::BadUrl(format!("{url}: {why}"));
        let (secure, rest) = if let Some(rest) = url.strip_prefix("wss://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("ws://") {
            (false, rest)
        } else {
            return Err(bad("the scheme must be ws:// or wss://"));
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let authority = authority.rsplit('@').next().unwrap_or_default();
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
            (host, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = match port {
            Some(port) => port.parse().map_err(|_| bad("the port is not a number"))?,
            None if secure => 443,
            None => 80,
        };
        Ok(Endpoint {
            secure,
            host: host.to_string(),
            port,
        })
    }

    /// Resolves the host and opens (then closes) a TCP connection to the first address that
    /// accepts one, each step within `limit`.
    pub async fn probe(&self, limit: Duration) -> Result<SocketAddr, ConnectFailure> {
        let lookup = tokio::net::lookup_host((self.host.as_str(), self.port));
        let addrs: Vec<SocketAddr> = tokio::time::timeout(limit, lookup)
            .await
            .map_err(|_| ConnectFailure::Timeout {
                stage: "resolving the host name",
                limit,
            })?
            .map_err(|e| ConnectFailure::Dns {
                host: self.host.clone(),
                reason: e.to_string(),
            })?
            .collect();
        let mut failure = ConnectFailure::Dns {
            host: self.host.clone(),
            reason: "no address".into(),
        };
        for addr in addrs {
            let connect = tokio::net::TcpStream::connect(addr);
            match tokio::time::timeout(limit, connect).await {
                Ok(Ok(_stream)) => return Ok(addr),
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    failure = ConnectFailure::Refused { addr };
                }
                Ok(Err(e)) => {
                    failure = ConnectFailure::Network {
                        addr,
                        reason: e.to_string(),
                    }
                }
                Err(_) => {
                    failure = ConnectFailure::Timeout {
                        stage: "opening a TCP connection",
                        limit,
                    }
                }
            }
        }
        Err(failure)
    }

    /// The websocket client's failure after TCP reached the node: its text is all there is
    /// (the client keeps no typed cause), and what fails after TCP is TLS or the upgrade.
    pub fn handshake_failure(&self, error: &str, limit: Duration) -> ConnectFailure {
        let reason = error
            .trim_start_matches("Networking or low-level protocol error: ")
            .trim_start_matches("Error when opening the TCP socket: ")
            .to_string();
        if error.contains("Connection timeout exceeded") {
            ConnectFailure::Timeout {
                stage: if self.secure {
                    "in the TLS and websocket handshake"
                } else {
                    "in the websocket handshake"
                },
                limit,
            }
        } else if error.contains("Connection refused") {
            // The node went away between the probe and the handshake.
            ConnectFailure::Handshake { reason }
        } else if self.secure && !error.contains("rejected with status code") {
            ConnectFailure::Tls {
                host: self.host.clone(),
                reason,
            }
        } else {
            ConnectFailure::Handshake { reason }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let parse = |url: &str| Endpoint::parse(url).unwrap();
        assert_eq!(
            parse("wss://entrypoint-finney.opentensor.ai:443"),
            Endpoint {
                secure: true,
                host: "entrypoint-finney.opentensor.ai".into(),
                port: 443
            }
        );
        assert_eq!(parse("ws://127.0.0.1:9944/").port, 9944);
        assert_eq!(parse("wss://node.example/rpc").port, 443);
        assert_eq!(parse("ws://node.example").port, 80);
        let v6 = parse("ws://[::1]:9944");
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 9944));
        for bad in ["http://x", "ws://", "ws://host:port", "ws://[::1"] {
            assert!(
                matches!(Endpoint::parse(bad), Err(ConnectFailure::BadUrl(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn handshake_failures_are_told_apart() {
        let limit = Duration::from_secs(10);
        let wss = Endpoint::parse("wss://node.example").unwrap();
        let ws = Endpoint::parse("ws://node.example").unwrap();
        let tls = "Networking or low-level protocol error: Error when opening the TCP socket: \
                   invalid peer certificate: UnknownIssuer";
        assert_eq!(
            wss.handshake_failure(tls, limit),
            ConnectFailure::Tls {
                host: "node.example".into(),
                reason: "invalid peer certificate: UnknownIssuer".into()
            }
        );
        assert!(matches!(
            ws.handshake_failure("Connection rejected with status code: 404", limit),
            ConnectFailure::Handshake { .. }
        ));
        assert!(matches!(
            wss.handshake_failure("Connection rejected with status code: 404", limit),
            ConnectFailure::Handshake { .. }
        ));
        assert!(matches!(
            ws.handshake_failure("Connection timeout exceeded: 10s", limit),
            ConnectFailure::Timeout { .. }
        ));
    }
}
