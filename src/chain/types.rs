//! What sn27 reads from and writes to the chain, independent of how it is reached.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Serialize;

use crate::keys::PublicKey;

/// RAO per TAO.
pub const RAO_PER_TAO: u64 = 1_000_000_000;

/// TAO as a float, for display and stake comparisons.
pub fn tao(rao: u64) -> f64 {
    rao as f64 / RAO_PER_TAO as f64
}

/// TAO to RAO, refusing negative, non-finite and out-of-range amounts.
pub fn rao(tao: f64) -> Option<u64> {
    let rao = tao * RAO_PER_TAO as f64;
    (tao.is_finite() && tao >= 0.0 && rao <= u64::MAX as f64).then_some(rao.round() as u64)
}

/// An axon as the chain stores it (`AxonInfo`, SCALE order); decodes by field name from storage
/// `SubtensorModule.Axons` and `NeuronInfoLite.axon_info`.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, subxt::ext::scale_decode::DecodeAsType,
)]
#[decode_as_type(crate_path = "subxt::ext::scale_decode")]
pub struct AxonInfo {
    pub block: u64,
    pub version: u32,
    /// IPv4 as `u32::from_be_bytes` widened, IPv6 as its 128-bit big-endian value.
    pub ip: u128,
    pub port: u16,
    pub ip_type: u8,
    pub protocol: u8,
    pub placeholder1: u8,
    pub placeholder2: u8,
}

impl AxonInfo {
    /// The fields `serve_axon` sets, with `protocol = 4` and zero placeholders as the SDK does.
    pub fn for_address(ip: IpAddr, port: u16, version: u32) -> Self {
        let (ip, ip_type) = encode_ip(ip);
        AxonInfo {
            block: 0,
            version,
            ip,
            port,
            ip_type,
            protocol: 4,
            placeholder1: 0,
            placeholder2: 0,
        }
    }

    /// The address, if the axon is serving (`ip ≠ 0`) and the type is known.
    pub fn ip_addr(&self) -> Option<IpAddr> {
        decode_ip(self.ip, self.ip_type)
    }

    /// Whether the fields a `serve_axon` would write are already what the chain holds.
    pub fn same_service(&self, other: &AxonInfo) -> bool {
        (
            self.version,
            self.ip,
            self.port,
            self.ip_type,
            self.protocol,
        ) == (
            other.version,
            other.ip,
            other.port,
            other.ip_type,
            other.protocol,
        ) && (self.placeholder1, self.placeholder2) == (other.placeholder1, other.placeholder2)
    }
}

/// An IP address as the chain stores it: IPv4 as `u32::from_be_bytes` widened with type 4,
/// IPv6 as its 128-bit big-endian value with type 6 (`bittensor-wire.md` §5.5).
fn encode_ip(ip: IpAddr) -> (u128, u8) {
    match ip {
        IpAddr::V4(v4) => (u128::from(u32::from_be_bytes(v4.octets())), 4),
        IpAddr::V6(v6) => (u128::from_be_bytes(v6.octets()), 6),
    }
}

/// The address the chain's `(ip, ip_type)` stand for; `None` for 0 (nothing served) or an
/// unknown type.
fn decode_ip(ip: u128, ip_type: u8) -> Option<IpAddr> {
    match (ip, ip_type) {
        (0, _) => None,
        (ip, 4) => u32::try_from(ip)
            .ok()
            .map(|v| IpAddr::V4(Ipv4Addr::from(v))),
        (ip, 6) => Some(IpAddr::V6(Ipv6Addr::from(ip))),
        _ => None,
    }
}

/// A neuron's prometheus endpoint as the chain stores it (`PrometheusInfo`, SCALE order);
/// decodes by field name from storage `SubtensorModule.Prometheus` and
/// `NeuronInfoLite.prometheus_info`.
///
/// Nothing in SN27 connects to the address; what counts is `version`: SN27 miners admit only
/// validators whose published prometheus version is current (`sn27-v2.md` §1.4). A neuron
/// that never served has every field 0.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, subxt::ext::scale_decode::DecodeAsType,
)]
#[decode_as_type(crate_path = "subxt::ext::scale_decode")]
pub struct PrometheusInfo {
    /// The block it was served at (0: never).
    pub block: u64,
    pub version: u32,
    /// Encoded as in [`AxonInfo::ip`].
    pub ip: u128,
    pub port: u16,
    pub ip_type: u8,
}

impl PrometheusInfo {
    /// The fields `serve_prometheus` sets.
    pub fn for_address(ip: IpAddr, port: u16, version: u32) -> Self {
        let (ip, ip_type) = encode_ip(ip);
        PrometheusInfo {
            block: 0,
            version,
            ip,
            port,
            ip_type,
        }
    }

    /// The address, if one was served (`ip ≠ 0`) and the type is known.
    pub fn ip_addr(&self) -> Option<IpAddr> {
        decode_ip(self.ip, self.ip_type)
    }

    /// Whether the fields a `serve_prometheus` would write are already what the chain holds.
    pub fn same_service(&self, other: &PrometheusInfo) -> bool {
        (self.version, self.ip, self.port, self.ip_type)
            == (other.version, other.ip, other.port, other.ip_type)
    }
}

impl fmt::Display for PrometheusInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ip_addr() {
            Some(ip) => write!(
                f,
                "/ipv{}/{ip}:{} (v{})",
                self.ip_type, self.port, self.version
            ),
            None => f.write_str("not served"),
        }
    }
}

/// Why validators on the internet cannot reach an axon at `ip`, or `None` for an address
/// that may be public. A real chain refuses only a few of these outright (`InvalidIpAddress`:
/// 0, 127.0.0.1, ::1, all-ones), but none of them can be reached from outside this network.
pub fn unreachable_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            if v4.is_unspecified() {
                Some("the unspecified address")
            } else if v4.is_loopback() {
                Some("a loopback address")
            } else if v4.is_private() {
                Some("a private (RFC 1918) address")
            } else if a == 100 && (64..128).contains(&b) {
                Some("a carrier-grade NAT (shared) address")
            } else if v4.is_link_local() {
                Some("a link-local address")
            } else if v4.is_broadcast() {
                Some("the broadcast address")
            } else if v4.is_multicast() {
                Some("a multicast address")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => unreachable_reason(IpAddr::V4(v4)),
            None if v6.is_unspecified() => Some("the unspecified address"),
            None if v6.is_loopback() => Some("a loopback address"),
            None if v6.is_unique_local() => Some("a unique local (private) address"),
            None if v6.is_unicast_link_local() => Some("a link-local address"),
            None if v6.is_multicast() => Some("a multicast address"),
            None => None,
        },
    }
}

impl fmt::Display for AxonInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ip_addr() {
            Some(ip) => write!(
                f,
                "/ipv{}/{ip}:{} (v{})",
                self.ip_type, self.port, self.version
            ),
            None => f.write_str("not serving"),
        }
    }
}

/// One neuron of a subnet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NeuronInfo {
    pub uid: u16,
    #[serde(serialize_with = "ss58")]
    pub hotkey: PublicKey,
    #[serde(serialize_with = "ss58")]
    pub coldkey: PublicKey,
    /// Stake as validator checks count it (the SDK's `total_stake`): `alpha_stake` plus
    /// `tao_stake` weighted by the chain's `TaoWeight`, in 10⁻⁹ units of the subnet's alpha.
    /// Where the chain does not report TAO stake it is `alpha_stake` alone.
    #[serde(rename = "total_stake")]
    pub stake: u64,
    /// Alpha staked to the hotkey on this subnet, 10⁻⁹ units of the subnet's alpha.
    pub alpha_stake: u64,
    /// TAO staked to the hotkey on the root network, RAO; `None` where the chain does not say
    /// (a runtime without `get_metagraph`).
    pub tao_stake: Option<u64>,
    pub validator_permit: bool,
    pub last_update: u64,
    pub registered_at: u64,
    pub axon: AxonInfo,
    /// The prometheus endpoint the neuron published; its `version` is what SN27 miners check
    /// validators against.
    pub prometheus: PrometheusInfo,
    /// Where the chain provides them (the devnet does not run epochs).
    pub incentive: Option<f64>,
    pub emission: Option<u64>,
    pub trust: Option<f64>,
}

fn ss58<S: serde::Serializer>(key: &PublicKey, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&key.to_ss58())
}

/// A subnet's neurons at one block.
#[derive(Debug, Clone, Serialize)]
pub struct Metagraph {
    pub netuid: u16,
    pub block: u64,
    pub neurons: Vec<NeuronInfo>,
}

impl Metagraph {
    /// The view access checks use (the total stake, as a number of whole units).
    pub fn snapshot(&self) -> crate::metagraph::MetagraphSnapshot {
        crate::metagraph::MetagraphSnapshot::new(
            self.netuid,
            self.block,
            self.neurons.iter().map(|n| crate::metagraph::Neuron {
                uid: n.uid,
                hotkey: n.hotkey,
                coldkey: n.coldkey,
                stake: tao(n.stake),
                validator_permit: n.validator_permit,
                prometheus_version: n.prometheus.version,
            }),
        )
    }
}

/// The subnet parameters the miner and validator act on (`bittensor-wire.md` §5.8).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hyperparameters {
    pub tempo: u16,
    pub weights_rate_limit: u64,
    pub serving_rate_limit: u64,
    pub weights_version_key: u64,
    pub commit_reveal_enabled: bool,
    pub commit_reveal_period: u64,
    pub min_allowed_weights: u16,
    pub max_weights_limit: u16,
    pub max_validators: u16,
    pub max_uids: u16,
    /// Registration price, RAO.
    pub burn: u64,
    /// Stake a hotkey needs to set weights, RAO.
    pub stake_threshold: u64,
    pub registration_allowed: bool,
}

/// Weights set on a subnet: per setter uid, its `(dest uid, weight)` pairs.
pub type WeightRows = Vec<(u16, Vec<(u16, u16)>)>;

/// Where the chain is and how far it has come.
#[derive(Debug, Clone, Serialize)]
pub struct ChainStatus {
    /// e.g. `wss://entrypoint-finney.opentensor.ai:443` or `embedded devnet (/var/lib/…)`.
    pub endpoint: String,
    pub spec_version: Option<u32>,
    pub block: u64,
    pub block_time_ms: u64,
}

/// What a timelocked commit made now needs (`bittensor-wire.md` §5.7), read at one block.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TimelockPlan {
    /// The block the values were read at.
    pub block: u64,
    /// The first block of the epoch that reveals the commit.
    pub reveal_block: u64,
    /// Seconds per block, to turn blocks into a drand round.
    pub block_time_secs: f64,
    /// `CommitRevealWeightsVersion`, which the commit must name.
    pub commit_reveal_version: u16,
}

/// What a `serve_axon` or `serve_prometheus` call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServeOutcome {
    /// The chain already held these values; nothing was sent.
    Unchanged,
    Served {
        block: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_encoding_matches_the_chain() {
        let axon = AxonInfo::for_address("1.2.3.4".parse().unwrap(), 8091, 183);
        assert_eq!((axon.ip, axon.ip_type, axon.protocol), (16_909_060, 4, 4));
        assert_eq!(axon.ip_addr(), Some("1.2.3.4".parse().unwrap()));
        let v6 = AxonInfo::for_address("2001:db8::1".parse().unwrap(), 1, 1);
        assert_eq!(v6.ip_type, 6);
        assert_eq!(v6.ip, 0x2001_0db8_0000_0000_0000_0000_0000_0001);
        assert_eq!(v6.ip_addr(), Some("2001:db8::1".parse().unwrap()));
        assert_eq!(AxonInfo::default().ip_addr(), None);
        assert_eq!(AxonInfo::default().to_string(), "not serving");
    }

    #[test]
    fn prometheus_is_encoded_like_the_axon() {
        let prometheus = PrometheusInfo::for_address("1.2.3.4".parse().unwrap(), 8091, 221);
        assert_eq!(
            (prometheus.ip, prometheus.ip_type, prometheus.port),
            (16_909_060, 4, 8091)
        );
        assert_eq!(prometheus.to_string(), "/ipv4/1.2.3.4:8091 (v221)");
        let v6 = PrometheusInfo::for_address("2001:db8::1".parse().unwrap(), 1, 1);
        assert_eq!(
            (v6.ip_type, v6.ip_addr()),
            (6, Some("2001:db8::1".parse().unwrap()))
        );
        assert_eq!(PrometheusInfo::default().to_string(), "not served");

        // The block it was served at is the chain's, not part of what a serve writes.
        let on_chain = PrometheusInfo {
            block: 900,
            ..prometheus
        };
        assert!(on_chain.same_service(&prometheus));
        for changed in [
            PrometheusInfo {
                version: 222,
                ..prometheus
            },
            PrometheusInfo {
                port: 8092,
                ..prometheus
            },
            PrometheusInfo {
                ip: 16_909_061,
                ..prometheus
            },
            PrometheusInfo {
                ip_type: 6,
                ..prometheus
            },
        ] {
            assert!(!on_chain.same_service(&changed), "{changed:?}");
        }
    }

    #[test]
    fn addresses_validators_cannot_reach() {
        for (ip, reason) in [
            ("0.0.0.0", "unspecified"),
            ("127.0.0.1", "loopback"),
            ("127.8.9.1", "loopback"),
            ("10.0.0.2", "private"),
            ("172.16.5.4", "private"),
            ("192.168.1.20", "private"),
            ("100.64.0.1", "carrier-grade NAT"),
            ("169.254.1.1", "link-local"),
            ("255.255.255.255", "broadcast"),
            ("224.0.0.1", "multicast"),
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("fd00::1", "unique local"),
            ("fe80::1", "link-local"),
            ("::ffff:192.168.0.1", "private"),
        ] {
            let found = unreachable_reason(ip.parse().unwrap());
            assert!(found.is_some_and(|r| r.contains(reason)), "{ip}: {found:?}");
        }
        for ip in [
            "1.2.3.4",
            "203.0.113.7",
            "100.128.0.1",
            "2001:db8::1",
            "172.32.0.1",
        ] {
            assert_eq!(unreachable_reason(ip.parse().unwrap()), None, "{ip}");
        }
    }

    #[test]
    fn tao_conversions() {
        assert_eq!(rao(1.5), Some(1_500_000_000));
        assert_eq!(rao(-1.0), None);
        assert_eq!(rao(f64::NAN), None);
        assert_eq!(tao(2_500_000_000), 2.5);
    }
}
