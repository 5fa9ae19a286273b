//! Cross-check of the crate against an independent numpy implementation
//! (`tests/python/pog_oracle.py`): PRNG elements bit for bit in both conversions, whole
//! matrices, Merkle roots and proofs over the same C bytes, and expected values against
//! numpy's float64 dot product.

use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use sn27::pog::check::{expected_value, isclose, ATOL_V1, RTOL_V1};
use sn27::pog::merkle::{verify_proof, MerkleTree, Node};
use sn27::pog::prng::{self, Conversion};

const SIZES: [usize; 8] = [1, 2, 3, 7, 32, 33, 64, 100];

fn oracle(request: &Value) -> Value {
    let python = crate::support::python();
    let script = crate::support::pog::crate_path("tests/python/pog_oracle.py");
    let out = crate::support::pog::run(
        &python,
        &[script.to_str().expect("utf-8 path")],
        &request.to_string(),
    );
    assert!(
        out.status.success(),
        "oracle failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("oracle prints JSON")
}

fn u64_of(v: &Value) -> u64 {
    v.as_u64().expect("unsigned integer in oracle output")
}

fn node(s: &Value) -> Node {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s.as_str().expect("hex string"), &mut out).expect("64 hex chars");
    out
}

#[test]
fn elements_match_bit_for_bit() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x0123_4567);
    let mut cases: Vec<(u64, u64, u64)> = vec![
        (0x0123_4567_89AB_CDEF, 3, 5),
        (1, 0, 0),
        (u64::MAX, 20703, 20703),
        (0, 0, 0),
        (0xFFFF_FFFF, 1, 0),
        (0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF),
    ];
    for _ in 0..500 {
        cases.push((
            rng.gen(),
            rng.gen_range(0..1u64 << 32),
            rng.gen_range(0..1u64 << 32),
        ));
    }
    let req =
        json!({ "elements": cases.iter().map(|&(s, i, j)| json!([s, i, j])).collect::<Vec<_>>() });
    let resp = oracle(&req);
    let got = resp["elements"].as_array().expect("elements array");
    assert_eq!(got.len(), cases.len());
    for (&(s, i, j), e) in cases.iter().zip(got) {
        let bits = prng::xorshift_bits(s, i, j);
        assert_eq!(
            u64::from(bits),
            u64_of(&e["bits"]),
            "bits of ({s}, {i}, {j})"
        );
        let v = prng::value(s, i, j, Conversion::Validator).to_bits();
        let m = prng::value(s, i, j, Conversion::Miner).to_bits();
        assert_eq!(
            u64::from(v),
            u64_of(&e["validator"]),
            "validator f32 of ({s}, {i}, {j})"
        );
        assert_eq!(
            u64::from(m),
            u64_of(&e["miner"]),
            "miner f32 of ({s}, {i}, {j})"
        );
    }
}

#[test]
fn matrices_roots_and_proofs_match() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0xC0FFEE);
    let mut cases = Vec::new();
    for &n in &SIZES {
        let seed_a: u64 = rng.gen();
        let seed_b: u64 = if n == 7 { 0xFFFF_FFFF } else { rng.gen() };
        let rows: Vec<usize> = if n <= 33 {
            (0..n).collect()
        } else {
            let mut r: Vec<usize> = (0..10).map(|_| rng.gen_range(0..n)).collect();
            r.extend([0, n - 1]);
            r
        };
        cases.push((seed_a, seed_b, n, rows));
    }
    let req = json!({
        "matrices": cases.iter().map(|(a, b, n, rows)| json!({"seed_a": a, "seed_b": b, "n": n, "rows": rows})).collect::<Vec<_>>()
    });
    let resp = oracle(&req);
    let got = resp["matrices"].as_array().expect("matrices array");
    assert_eq!(got.len(), cases.len());
    for ((seed_a, seed_b, n, rows), m) in cases.iter().zip(got) {
        let (n, seed_a, seed_b) = (*n, *seed_a, *seed_b);
        let a = crate::support::pog::f32s_from_hex(m["a_hex"].as_str().expect("a_hex"));
        let b = crate::support::pog::f32s_from_hex(m["b_hex"].as_str().expect("b_hex"));
        let ours_a = prng::matrix(seed_a, n, Conversion::Validator);
        let ours_b = prng::matrix(seed_b, n, Conversion::Validator);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&ours_a), bits(&a), "A for n = {n}");
        assert_eq!(bits(&ours_b), bits(&b), "B for n = {n}");

        let c = crate::support::pog::f32s_from_hex(m["c_hex"].as_str().expect("c_hex"));
        let tree = MerkleTree::build(&c, n).expect("oracle C is n x n");
        assert_eq!(
            hex::encode(tree.root()),
            m["root"].as_str().expect("root"),
            "root for n = {n}"
        );
        let proofs = m["proofs"].as_array().expect("proofs");
        for (&i, p) in rows.iter().zip(proofs) {
            let theirs: Vec<Node> = p.as_array().expect("proof").iter().map(node).collect();
            assert_eq!(
                tree.proof(i).expect("row in range"),
                theirs,
                "proof of row {i}, n = {n}"
            );
            verify_proof(&c[i * n..(i + 1) * n], i, &theirs, &tree.root(), n)
                .expect("oracle proof verifies");
            // numpy's float32 GEMM result passes the validator's value check.
            for j in [0, n / 2, n - 1] {
                let v = expected_value(seed_a, seed_b, i as u64, j as u64, n as u64);
                assert!(
                    isclose(c[i * n + j], v, ATOL_V1, RTOL_V1),
                    "C[{i}][{j}] n = {n}"
                );
            }
        }
    }
}

#[test]
fn expected_values_match_numpy_float64_dot() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0xBEEF);
    let mut cases: Vec<(u64, u64, u64, u64, u64)> = Vec::new();
    for &n in SIZES.iter().chain(&[1000, 20704]) {
        for _ in 0..6 {
            let n = n as u64;
            cases.push((
                rng.gen(),
                rng.gen(),
                rng.gen_range(0..n),
                rng.gen_range(0..n),
                n,
            ));
        }
    }
    cases.push((u64::MAX, 0xFFFF_FFFF, 20703, 20703, 20704));
    let req = json!({ "values": cases.iter().map(|&(a, b, i, j, n)| json!([a, b, i, j, n])).collect::<Vec<_>>() });
    let resp = oracle(&req);
    let got = resp["values"].as_array().expect("values array");
    assert_eq!(got.len(), cases.len());
    for (&(a, b, i, j, n), v) in cases.iter().zip(got) {
        let theirs = f64::from_bits(u64_of(&v["value_bits"]));
        let ours = expected_value(a, b, i, j, n);
        let bound = 1e-9 * theirs.abs().max(1.0);
        assert!(
            (ours - theirs).abs() <= bound,
            "value ({a}, {b}, {i}, {j}, {n}): ours {ours}, numpy {theirs}"
        );
    }
}
