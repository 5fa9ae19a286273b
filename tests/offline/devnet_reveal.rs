//! Commit-reveal on the devnet: commit, too-early reveal kept, reveal after a restart, expiry,
//! wrong data — with the pending reveals on disk in between.

use std::time::Duration;

use sn27::chain::devnet::{Devnet, Genesis};
use sn27::chain::types::rao;
use sn27::chain::Chain;
use sn27::keys::Keypair;
use sn27::validator::reveal::{reveal_due, submit_weights, RevealStore, WeightsOutcome};

const TEMPO: u64 = 10;

/// Waits until the chain is at a block that is `offset` blocks into an epoch (or later in it).
async fn wait_for_epoch_offset(chain: &Devnet, offset: u64) -> u64 {
    loop {
        let block = chain.status().await.unwrap().block;
        if block % TEMPO == offset {
            return block / TEMPO;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A validator registered with 5000 TAO of stake (hence a permit).
async fn staked_validator(chain: &Devnet) -> Keypair {
    let validator = Keypair::generate(12).unwrap();
    chain
        .register_free(
            27,
            validator.public(),
            validator.public(),
            rao(5000.0).unwrap(),
        )
        .await
        .unwrap();
    validator
}

async fn wait_for_epoch(chain: &Devnet, epoch: u64) {
    while chain.status().await.unwrap().block / TEMPO < epoch {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn commit_reveal_survives_a_restart_and_expires() {
    let dir = tempfile::tempdir().unwrap();
    let genesis = Genesis {
        block_time: Duration::from_millis(50),
        netuids: vec![27],
    };
    let chain = Devnet::init(&dir.path().join("devnet.sqlite"), &genesis).unwrap();
    for (name, value) in [
        ("commit_reveal", "true"),
        ("tempo", "10"),
        ("weights_rate_limit", "1"),
    ] {
        chain.set_hyperparameter(27, name, value).await.unwrap();
    }
    assert!(chain.set_hyperparameter(27, "tempo", "-1").await.is_err());
    assert!(chain.set_hyperparameter(27, "nonsense", "1").await.is_err());
    let miner = Keypair::generate(12).unwrap();
    chain
        .register_free(27, miner.public(), miner.public(), 0)
        .await
        .unwrap();
    let validator = staked_validator(&chain).await;
    let store = RevealStore::new(dir.path().join("state/pending-reveals.json"));

    // Direct weights are refused; the commit path is taken and persisted.
    let direct = chain
        .set_weights(&validator, 27, &[0], &[65535], 183)
        .await
        .unwrap_err();
    assert_eq!(direct.dispatch_error(), Some("CommitRevealEnabled"));
    let epoch = wait_for_epoch_offset(&chain, 1).await;
    let outcome = submit_weights(&chain, &store, &validator, 27, &[0, 1], &[65535, 1000], 183)
        .await
        .unwrap();
    assert!(
        matches!(outcome, WeightsOutcome::Committed { .. }),
        "{outcome:?}"
    );
    assert_eq!(store.load().unwrap().len(), 1);

    // Too early: the entry stays.
    assert_eq!(reveal_due(&chain, &store, &validator).await.unwrap(), 0);
    assert_eq!(store.load().unwrap().len(), 1);

    // A restarted validator (new store handle on the same file) reveals in the next epoch.
    let restarted = RevealStore::new(store.path());
    wait_for_epoch(&chain, epoch + 1).await;
    assert_eq!(reveal_due(&chain, &restarted, &validator).await.unwrap(), 1);
    assert!(restarted.load().unwrap().is_empty());
    assert_eq!(
        chain.weights(27).await.unwrap(),
        vec![(1, vec![(0, 65535), (1, 1000)])]
    );

    // Wrong data does not match any commit.
    let epoch = wait_for_epoch_offset(&chain, 1).await;
    submit_weights(&chain, &store, &validator, 27, &[0], &[65535], 183)
        .await
        .unwrap();
    let wrong = chain
        .reveal_weights(&validator, 27, &[0], &[65535], &[1, 2, 3], 183)
        .await
        .unwrap_err();
    assert_eq!(
        wrong.dispatch_error(),
        Some("InvalidRevealCommitHashNotMatch")
    );

    // Left past its reveal epoch, the commit expires and is dropped from the store.
    wait_for_epoch(&chain, epoch + 2).await;
    assert_eq!(reveal_due(&chain, &store, &validator).await.unwrap(), 0);
    assert!(store.load().unwrap().is_empty());
}

#[tokio::test]
async fn without_commit_reveal_weights_are_set_directly_and_a_corrupt_store_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let chain = Devnet::init(&dir.path().join("devnet.sqlite"), &Genesis::default()).unwrap();
    let validator = staked_validator(&chain).await;
    let store = RevealStore::new(dir.path().join("pending.json"));
    let outcome = submit_weights(&chain, &store, &validator, 27, &[0], &[65535], 183)
        .await
        .unwrap();
    assert_eq!(outcome, WeightsOutcome::Set);
    assert!(store.load().unwrap().is_empty());
    let committed = chain
        .commit_weights(&validator, 27, [0; 32])
        .await
        .unwrap_err();
    assert_eq!(committed.dispatch_error(), Some("CommitRevealDisabled"));

    std::fs::write(store.path(), b"{not json").unwrap();
    let err = store.load().unwrap_err().to_string();
    assert!(err.contains("pending.json"), "{err}");
}
