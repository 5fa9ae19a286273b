//! Which chain sn27 talks to, as the operator names it in `[chain] network`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Which subtensor to talk to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Network {
    /// The main chain.
    Finney,
    /// The public test chain.
    Test,
    /// A subtensor node on this machine (`ws://127.0.0.1:9944`).
    Local,
    /// The embedded local devnet (demos and tests on one machine; not a real chain).
    Devnet,
    /// Any other node, by `ws://` or `wss://` URL.
    Url(String),
}

impl Network {
    /// The websocket endpoint, or `None` for the embedded devnet.
    pub fn endpoint(&self) -> Option<&str> {
        match self {
            Network::Finney => Some("wss://entrypoint-finney.opentensor.ai:443"),
            Network::Test => Some("wss://test.finney.opentensor.ai:443"),
            Network::Local => Some("ws://127.0.0.1:9944"),
            Network::Devnet => None,
            Network::Url(url) => Some(url),
        }
    }
}

impl TryFrom<String> for Network {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        match value.as_str() {
            "finney" => Ok(Network::Finney),
            "test" => Ok(Network::Test),
            "local" => Ok(Network::Local),
            "devnet" => Ok(Network::Devnet),
            url if (url.starts_with("ws://") || url.starts_with("wss://"))
                && url.len() > url.find("://").unwrap_or(0) + 3 =>
            {
                Ok(Network::Url(url.to_owned()))
            }
            other => Err(format!(
                "expected \"finney\", \"test\", \"local\", \"devnet\" or a ws:// or wss:// URL, found {other:?}"
            )),
        }
    }
}

impl From<Network> for String {
    fn from(network: Network) -> String {
        network.to_string()
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Network::Finney => "finney",
            Network::Test => "test",
            Network::Local => "local",
            Network::Devnet => "devnet",
            Network::Url(url) => url,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_names_and_urls() {
        for (text, network) in [
            ("finney", Network::Finney),
            ("test", Network::Test),
            ("local", Network::Local),
            ("devnet", Network::Devnet),
            (
                "wss://node.example:443",
                Network::Url("wss://node.example:443".into()),
            ),
        ] {
            assert_eq!(Network::try_from(text.to_string()).unwrap(), network);
            assert_eq!(network.to_string(), text);
        }
        for bad in ["mainnet", "http://x", "ws://", ""] {
            assert!(Network::try_from(bad.to_string()).is_err(), "{bad}");
        }
    }
}
