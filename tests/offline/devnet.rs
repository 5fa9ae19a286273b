//! The embedded devnet through the `Chain` interface: register → serve → set weights →
//! rate-limit rejection → read back, from two handles on one database file.

use std::time::Duration;

use sn27::chain::devnet::{Devnet, Genesis};
use sn27::chain::types::{rao, RAO_PER_TAO};
use sn27::chain::{
    publish_axon, publish_prometheus, AxonInfo, Chain, PrometheusInfo, ServeOutcome,
};
use sn27::keys::Keypair;

fn key() -> Keypair {
    Keypair::generate(12).unwrap()
}

#[tokio::test]
async fn register_serve_weights_and_rate_limits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("devnet.sqlite");
    let genesis = Genesis {
        block_time: Duration::from_millis(20),
        netuids: vec![27, 15],
    };
    let chain = Devnet::init(&path, &genesis).unwrap();
    // A second handle, as a second sn27 process would open it.
    let other = Devnet::open(&path).unwrap();

    // Registration burns from the coldkey.
    let (coldkey, hotkey) = (key(), key());
    chain
        .fund(coldkey.public(), rao(10.0).unwrap())
        .await
        .unwrap();
    let uid = chain
        .burned_register(&coldkey, 27, &hotkey.public())
        .await
        .unwrap();
    assert_eq!(uid, 0);
    assert_eq!(
        other.balance(&coldkey.public()).await.unwrap(),
        9 * RAO_PER_TAO
    );
    let again = chain
        .burned_register(&coldkey, 27, &hotkey.public())
        .await
        .unwrap_err();
    assert_eq!(
        again.dispatch_error(),
        Some("HotKeyAlreadyRegisteredInSubNet"),
        "{again}"
    );
    let poor = chain
        .burned_register(&key(), 27, &key().public())
        .await
        .unwrap_err();
    assert_eq!(
        poor.dispatch_error(),
        Some("NotEnoughBalanceToStake"),
        "{poor}"
    );
    // A hotkey belongs to one coldkey, on every subnet.
    let rich = key();
    chain.fund(rich.public(), rao(5.0).unwrap()).await.unwrap();
    let stolen = chain
        .burned_register(&rich, 15, &hotkey.public())
        .await
        .unwrap_err();
    assert_eq!(
        stolen.dispatch_error(),
        Some("NonAssociatedColdKey"),
        "{stolen}"
    );
    assert!(matches!(
        chain
            .burned_register(&coldkey, 99, &key().public())
            .await
            .unwrap_err(),
        sn27::chain::ChainError::NoSubnet(99)
    ));

    // Serving: published once, skipped when unchanged, rate-limited when changed too soon.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let axon = AxonInfo::for_address("127.0.0.1".parse().unwrap(), 8091, 183);
    let served = publish_axon(&chain, &hotkey, 27, axon).await.unwrap();
    assert!(matches!(served, ServeOutcome::Served { .. }), "{served:?}");
    assert_eq!(
        publish_axon(&other, &hotkey, 27, axon).await.unwrap(),
        ServeOutcome::Unchanged
    );
    let moved = AxonInfo { port: 9000, ..axon };
    let err = publish_axon(&chain, &hotkey, 27, moved).await.unwrap_err();
    assert_eq!(err.dispatch_error(), Some("ServingRateLimitExceeded"));
    assert!(err.to_string().contains("wait"), "{err}");
    let bad = chain
        .serve_axon(&hotkey, 27, AxonInfo { port: 0, ..axon })
        .await
        .unwrap_err();
    assert_eq!(bad.dispatch_error(), Some("InvalidPort"));
    let unknown = publish_axon(&chain, &key(), 27, axon).await.unwrap_err();
    assert_eq!(
        unknown.dispatch_error(),
        Some("HotKeyNotRegisteredInNetwork")
    );

    // Prometheus: its own rate limit (the axon was just served), then the same rules.
    let prometheus = PrometheusInfo::for_address("127.0.0.1".parse().unwrap(), 7091, 221);
    let served = publish_prometheus(&chain, &hotkey, 27, prometheus)
        .await
        .unwrap();
    let ServeOutcome::Served { block: served_at } = served else {
        panic!("expected a serve, got {served:?}");
    };
    assert_eq!(
        publish_prometheus(&other, &hotkey, 27, prometheus)
            .await
            .unwrap(),
        ServeOutcome::Unchanged
    );
    let newer = PrometheusInfo {
        version: 240,
        ..prometheus
    };
    let err = publish_prometheus(&chain, &hotkey, 27, newer)
        .await
        .unwrap_err();
    assert_eq!(err.dispatch_error(), Some("ServingRateLimitExceeded"));
    assert!(
        err.to_string()
            .starts_with("serve_prometheus refused by the chain (ServingRateLimitExceeded)"),
        "{err}"
    );
    let zero = chain
        .serve_prometheus(&hotkey, 27, PrometheusInfo { ip: 0, ..newer })
        .await
        .unwrap_err();
    assert_eq!(zero.dispatch_error(), Some("InvalidIpAddress"));
    let unknown = publish_prometheus(&chain, &key(), 27, prometheus)
        .await
        .unwrap_err();
    assert_eq!(
        unknown.dispatch_error(),
        Some("HotKeyNotRegisteredInNetwork")
    );

    // Weights: a staked validator sets them once, then is rate-limited.
    let validator = key();
    let vuid = chain
        .register_free(27, validator.public(), key().public(), rao(2000.0).unwrap())
        .await
        .unwrap();
    let no_permit = chain
        .set_weights(&hotkey, 27, &[1], &[65535], 183)
        .await
        .unwrap_err();
    assert_eq!(no_permit.dispatch_error(), Some("NeuronNoValidatorPermit"));
    chain
        .set_weights(&validator, 27, &[0, vuid], &[65535, 100], 183)
        .await
        .unwrap();
    let fast = chain
        .set_weights(&validator, 27, &[0], &[65535], 183)
        .await
        .unwrap_err();
    assert_eq!(fast.dispatch_error(), Some("SettingWeightsTooFast"));
    assert!(
        fast.to_string().contains("weights set too fast: wait"),
        "{fast}"
    );
    let invalid = chain
        .set_weights(&key(), 27, &[0], &[1], 183)
        .await
        .unwrap_err();
    assert_eq!(
        invalid.dispatch_error(),
        Some("HotKeyNotRegisteredInSubNet")
    );

    // Everything reads back through the other handle.
    let metagraph = other.metagraph(27).await.unwrap();
    assert_eq!(metagraph.neurons.len(), 2);
    let miner = &metagraph.neurons[0];
    assert_eq!(miner.hotkey, hotkey.public());
    assert_eq!(miner.coldkey, coldkey.public());
    assert_eq!(miner.axon.ip_addr(), Some("127.0.0.1".parse().unwrap()));
    assert_eq!((miner.axon.port, miner.axon.version), (8091, 183));
    assert_eq!(
        miner.prometheus,
        PrometheusInfo {
            block: served_at,
            ..prometheus
        }
    );
    assert!(!miner.validator_permit);
    let v = &metagraph.neurons[usize::from(vuid)];
    assert!(v.validator_permit);
    assert!(v.last_update > 0);
    assert_eq!(
        other.weights(27).await.unwrap(),
        vec![(vuid, vec![(0, 65535), (vuid, 100)])]
    );
    // The access-check view carries stake in TAO.
    let snapshot = metagraph.snapshot();
    assert_eq!(snapshot.neuron(&validator.public()).unwrap().stake, 2000.0);
    // And the published prometheus version (0: never published).
    assert_eq!(
        snapshot
            .neuron(&hotkey.public())
            .unwrap()
            .prometheus_version,
        221
    );
    assert_eq!(
        snapshot
            .neuron(&validator.public())
            .unwrap()
            .prometheus_version,
        0
    );

    // The block follows the wall clock.
    let before = chain.status().await.unwrap().block;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(other.status().await.unwrap().block >= before + 3);
}

#[test]
fn opening_a_missing_or_foreign_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = Devnet::open(&dir.path().join("none.sqlite")).err().unwrap();
    assert!(
        missing.to_string().contains("sn27 devnet init"),
        "{missing}"
    );
    let foreign = dir.path().join("foreign.sqlite");
    std::fs::write(&foreign, b"").unwrap();
    let err = Devnet::open(&foreign).err().unwrap();
    assert!(err.to_string().contains("not a devnet database"), "{err}");
}

/// A devnet made before the prometheus columns existed opens: they are added with their
/// defaults, once, and serve_prometheus works on it.
#[tokio::test]
async fn a_devnet_from_before_prometheus_gains_its_columns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("devnet.sqlite");
    let genesis = Genesis {
        block_time: Duration::from_millis(20),
        netuids: vec![27],
    };
    let hotkey = key();
    {
        let chain = Devnet::init(&path, &genesis).unwrap();
        chain
            .register_free(27, hotkey.public(), key().public(), 0)
            .await
            .unwrap();
    }
    let columns = || -> Vec<String> {
        let db = rusqlite::Connection::open(&path).unwrap();
        let mut statement = db
            .prepare("SELECT name FROM pragma_table_info('neurons')")
            .unwrap();
        let names = statement.query_map([], |r| r.get(0)).unwrap();
        names.map(Result::unwrap).collect()
    };
    let prometheus_columns = [
        "prometheus_block",
        "prometheus_version",
        "prometheus_ip",
        "prometheus_port",
        "prometheus_ip_type",
    ];
    // The schema of older devnets: the neurons table without them.
    {
        let db = rusqlite::Connection::open(&path).unwrap();
        for column in prometheus_columns {
            db.execute_batch(&format!("ALTER TABLE neurons DROP COLUMN {column}"))
                .unwrap();
        }
    }
    assert!(!columns().iter().any(|c| c.starts_with("prometheus")));

    let chain = Devnet::open(&path).unwrap();
    let after = columns();
    for column in prometheus_columns {
        assert_eq!(after.iter().filter(|c| *c == column).count(), 1, "{column}");
    }
    let metagraph = chain.metagraph(27).await.unwrap();
    assert_eq!(metagraph.neurons[0].prometheus, PrometheusInfo::default());
    // Opening it again changes nothing.
    Devnet::open(&path).unwrap();
    assert_eq!(columns(), after);

    tokio::time::sleep(Duration::from_millis(50)).await;
    let info = PrometheusInfo::for_address("127.0.0.1".parse().unwrap(), 7091, 221);
    chain.serve_prometheus(&hotkey, 27, info).await.unwrap();
    let reopened = Devnet::open(&path).unwrap();
    let metagraph = reopened.metagraph(27).await.unwrap();
    assert_eq!(metagraph.neurons[0].prometheus.version, 221);
    assert_eq!(metagraph.neurons[0].prometheus.ip_addr(), info.ip_addr());
}
