//! The credential blob against `cryptography` (PyPI, pinned), used the way SN27 validators use
//! it: a blob sealed by sn27 opens in Python, and a blob sealed in Python (a Python miner's
//! answer) opens with sn27's rental key.

use crate::support::python_peer;
use sn27::protocol::credentials::{CallerKey, Credentials, RentalKey};

#[test]
fn python_validator_opens_our_blob() {
    let keys = python_peer("rsa_peer.py", &["keypair"]);
    let dir = tempfile::tempdir().unwrap();
    let private = dir.path().join("private.pem");
    std::fs::write(&private, keys["private"].as_str().unwrap()).unwrap();

    let caller = CallerKey::from_pem(keys["public"].as_str().unwrap()).unwrap();
    let credentials = Credentials {
        username: "root".into(),
        password: "Zx9-kLm2_Qw8eRt5".into(),
        port: 4444,
        external_user_ports: Default::default(),
        version: 183,
        host_key_fingerprint: Some("SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU".into()),
    };
    let blob = caller.seal(&credentials).unwrap();
    let opened = python_peer(
        "rsa_peer.py",
        &["decrypt", private.to_str().unwrap(), &blob],
    );
    assert_eq!(opened["username"], "root");
    assert_eq!(opened["password"], "Zx9-kLm2_Qw8eRt5");
    assert_eq!(opened["port"], 4444);
    assert_eq!(opened["version"], 183);
    assert_eq!(
        opened["host_key_fingerprint"],
        credentials.host_key_fingerprint.unwrap().as_str()
    );
}

#[test]
fn our_rental_key_opens_a_python_miners_blob() {
    let rental = RentalKey::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let public = dir.path().join("public.pem");
    std::fs::write(&public, rental.public_pem()).unwrap();
    // What a reference miner encrypts: json.dumps of the four keys.
    let text = r#"{"username": "root", "password": "AbCdEfGhIj", "port": 4444, "version": 183}"#;
    let sealed = python_peer("rsa_peer.py", &["encrypt", public.to_str().unwrap(), text]);
    let opened = rental.open(sealed["blob"].as_str().unwrap()).unwrap();
    assert_eq!(opened.password, "AbCdEfGhIj");
    assert_eq!(opened.port, 4444);
    assert_eq!(opened.host_key_fingerprint, None);
}
