//! Randomized property test of the hardened Merkle proof check: every honest proof passes,
//! and every single tampering a miner could try (a bit flip in the row or in a sibling,
//! another row's proof, another index, a root of other seeds, a short or long proof) fails.

use rand::{Rng, SeedableRng};
use sn27::pog::merkle::{proof_len, verify_proof, MerkleTree, Node, ProofError};
use sn27::pog::prng::{matrix, Conversion};

const SIZES: [usize; 10] = [1, 2, 3, 5, 7, 8, 31, 32, 33, 100];
const SEEDS_PER_SIZE: usize = 12;

fn flip_row_bit(row: &[f32], rng: &mut impl Rng) -> Vec<f32> {
    let mut out = row.to_vec();
    let k = rng.gen_range(0..out.len());
    out[k] = f32::from_bits(out[k].to_bits() ^ (1 << rng.gen_range(0..32)));
    out
}

fn flip_node_bit(node: &Node, rng: &mut impl Rng) -> Node {
    let mut out = *node;
    out[rng.gen_range(0..32)] ^= 1 << rng.gen_range(0..8);
    out
}

#[test]
fn honest_proofs_pass_and_tampering_fails() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(27);
    let mut checked = 0usize;
    for &n in &SIZES {
        for _ in 0..SEEDS_PER_SIZE {
            let seed: u64 = rng.gen();
            let m = matrix(seed, n, Conversion::Miner);
            let tree = MerkleTree::build(&m, n).expect("n x n matrix");
            let root = tree.root();
            let other_root =
                MerkleTree::build(&matrix(seed ^ 0x9E37_79B9, n, Conversion::Miner), n)
                    .expect("n x n matrix")
                    .root();
            assert_ne!(root, other_root);
            for i in 0..n {
                let row = &m[i * n..(i + 1) * n];
                let proof = tree.proof(i).expect("row in range");
                assert_eq!(proof.len(), proof_len(n));
                assert_eq!(
                    verify_proof(row, i, &proof, &root, n),
                    Ok(()),
                    "honest n={n} i={i}"
                );
                checked += 1;

                let bad_row = flip_row_bit(row, &mut rng);
                assert_eq!(
                    verify_proof(&bad_row, i, &proof, &root, n),
                    Err(ProofError::RootMismatch),
                    "row bit flip n={n} i={i}"
                );
                if !proof.is_empty() {
                    let mut bad = proof.clone();
                    let k = rng.gen_range(0..bad.len());
                    bad[k] = flip_node_bit(&bad[k], &mut rng);
                    assert_eq!(
                        verify_proof(row, i, &bad, &root, n),
                        Err(ProofError::RootMismatch),
                        "sibling bit flip n={n} i={i} k={k}"
                    );
                }
                if n > 1 {
                    let j = (i + rng.gen_range(1..n)) % n;
                    let other = tree.proof(j).expect("row in range");
                    let other_row = &m[j * n..(j + 1) * n];
                    assert!(
                        verify_proof(row, i, &other, &root, n).is_err(),
                        "proof of {j} for {i}"
                    );
                    assert!(
                        verify_proof(other_row, i, &other, &root, n).is_err(),
                        "row {j} at index {i}"
                    );
                    assert!(
                        verify_proof(row, j, &proof, &root, n).is_err(),
                        "index {j} for row {i}"
                    );
                }
                assert_eq!(
                    verify_proof(row, i, &proof, &other_root, n),
                    Err(ProofError::RootMismatch),
                    "other root n={n}"
                );
                if !proof.is_empty() {
                    assert_eq!(
                        verify_proof(row, i, &proof[..proof.len() - 1], &root, n),
                        Err(ProofError::WrongProofLength {
                            expected: proof.len(),
                            found: proof.len() - 1
                        })
                    );
                }
                let mut padded = proof.clone();
                padded.push(root);
                assert_eq!(
                    verify_proof(row, i, &padded, &root, n),
                    Err(ProofError::WrongProofLength {
                        expected: proof.len(),
                        found: proof.len() + 1
                    })
                );
                let mut longer = row.to_vec();
                longer.push(0.0);
                assert!(matches!(
                    verify_proof(&longer, i, &proof, &root, n),
                    Err(ProofError::WrongRowLength { .. })
                ));
                assert!(matches!(
                    verify_proof(row, n + i, &proof, &root, n),
                    Err(ProofError::IndexOutOfRange { .. })
                ));
            }
        }
    }
    assert_eq!(checked, SIZES.iter().sum::<usize>() * SEEDS_PER_SIZE);
}
