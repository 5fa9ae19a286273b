//! The row Merkle tree of Proof-of-GPU (sn27-protocol §6.5).
//!
//! A miner commits to its whole product matrix `C` with one 32-byte root, then opens single
//! rows with a proof of `⌈log2 n⌉` sibling hashes. Tree shape, node order and the
//! "duplicate the last node of an odd level" rule are exactly the reference's, so roots
//! and proofs interoperate with reference peers.
//!
//! The tree has no domain separation between leaves and inner nodes; [`verify_proof`]
//! therefore insists on the exact row length and proof length for the agreed `n` (the
//! project hardening of §6.5), which rules out a 64-byte "row" posing as an inner node.

use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::pog::{parallel, sha_lanes};

/// One SHA-256 digest: a leaf, an inner node or the root.
pub type Node = [u8; 32];

/// Problems building a tree or asking it for a proof.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PogError {
    /// A tree needs at least one row.
    #[error("cannot build a Merkle tree over an empty matrix (n = 0)")]
    EmptyMatrix,
    /// The matrix slice does not hold `n × n` values.
    #[error("matrix holds {found} values but an {n}x{n} matrix needs {expected}")]
    WrongMatrixSize {
        /// The side the caller gave.
        n: usize,
        /// `n²`.
        expected: usize,
        /// `matrix.len()`.
        found: usize,
    },
    /// A run of rows does not hold `rows × n` values.
    #[error("rows slice holds {found} values but {rows} rows of {n} values need {expected}")]
    WrongRowsSize {
        /// Number of rows (digests) asked for.
        rows: usize,
        /// Row length.
        n: usize,
        /// `rows · n`.
        expected: usize,
        /// Length of the slice given.
        found: usize,
    },
    /// The side is so large that `n²` does not fit in `usize`.
    #[error("matrix side {n} is too large: n*n overflows")]
    SideTooLarge {
        /// The side the caller gave.
        n: usize,
    },
    /// A proof was asked for a row the tree does not have.
    #[error("row index {index} is out of range for a tree of {leaves} rows")]
    IndexOutOfRange {
        /// The requested row.
        index: usize,
        /// Number of rows (leaves) in the tree.
        leaves: usize,
    },
}

/// Why a row and proof were rejected by [`verify_proof`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProofError {
    /// The opened row does not have `n` values.
    #[error("opened row has {found} values, expected exactly n = {expected}")]
    WrongRowLength {
        /// `n`.
        expected: usize,
        /// Length of the row received.
        found: usize,
    },
    /// The proof does not have `⌈log2 n⌉` nodes.
    #[error("Merkle proof has {found} nodes, expected exactly ceil(log2 n) = {expected}")]
    WrongProofLength {
        /// [`proof_len`]`(n)`.
        expected: usize,
        /// Length of the proof received.
        found: usize,
    },
    /// The challenged row index is not below `n`.
    #[error("row index {index} is out of range for n = {n}")]
    IndexOutOfRange {
        /// The challenged row.
        index: usize,
        /// Number of rows.
        n: usize,
    },
    /// The hashes do not fold to the committed root.
    #[error("Merkle proof does not lead to the committed root")]
    RootMismatch,
}

/// SHA-256 of a row as `row.len()` little-endian f32 values: the leaf of that row.
pub fn leaf(row: &[f32]) -> Node {
    // Staging through a small buffer keeps the byte order explicit and safe; on
    // little-endian machines the conversion compiles to a plain copy, which costs a few
    // per cent of the hashing time.
    const CHUNK: usize = 1024;
    let mut hasher = Sha256::new();
    let mut buf = [0u8; CHUNK * 4];
    for values in row.chunks(CHUNK) {
        for (bytes, v) in buf.chunks_exact_mut(4).zip(values) {
            bytes.copy_from_slice(&v.to_le_bytes());
        }
        hasher.update(&buf[..values.len() * 4]);
    }
    hasher.finalize().into()
}

/// Writes `out[k] = leaf(row k)` for the row-major rows of length `n` in `rows`
/// (`rows.len()` must be `out.len() · n`), on the calling thread.
///
/// Hashes several rows at once with the CPU's SHA instructions where available, which is
/// about twice as fast per core as one row at a time; the digests are identical to
/// [`leaf`]. Returns [`PogError::WrongRowsSize`] when the lengths disagree.
pub fn hash_leaves(rows: &[f32], n: usize, out: &mut [Node]) -> Result<(), PogError> {
    let expected = out.len().checked_mul(n);
    if expected != Some(rows.len()) {
        return Err(PogError::WrongRowsSize {
            rows: out.len(),
            n,
            expected: expected.unwrap_or(usize::MAX),
            found: rows.len(),
        });
    }
    sha_lanes::leaves_into(rows, n, out);
    Ok(())
}

/// SHA-256(left ‖ right): an inner node.
pub fn parent(left: &Node, right: &Node) -> Node {
    let mut hasher = Sha256::new();
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// Proof length for a tree of `n` rows: `⌈log2 n⌉`, and 0 for `n ≤ 1`.
pub fn proof_len(n: usize) -> usize {
    if n <= 1 {
        0
    } else {
        (usize::BITS - (n - 1).leading_zeros()) as usize
    }
}

/// Number of nodes at each level of a tree of `n` rows, leaves first, root last
/// (`[n, ⌈n/2⌉, …, 1]`); empty for `n = 0`.
pub fn level_sizes(n: usize) -> Vec<usize> {
    let mut sizes = Vec::with_capacity(proof_len(n) + 1);
    let mut count = n;
    while count > 0 {
        sizes.push(count);
        if count == 1 {
            break;
        }
        count = count.div_ceil(2);
    }
    sizes
}

/// Total number of nodes (all levels) of a tree of `n` rows; the worker's tree file holds
/// exactly this many 32-byte nodes.
pub fn node_count(n: usize) -> usize {
    level_sizes(n).iter().sum()
}

/// A complete row Merkle tree over an `n × n` f32 matrix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerkleTree {
    /// All nodes level by level, leaves first, root last.
    nodes: Vec<Node>,
    /// Start of each level in `nodes`, plus one past the end.
    bounds: Vec<usize>,
}

impl MerkleTree {
    /// Builds the tree over the rows of the row-major `n × n` `matrix`.
    ///
    /// Leaves are hashed by up to `available_parallelism()` threads; the result does not
    /// depend on the thread count.
    pub fn build(matrix: &[f32], n: usize) -> Result<MerkleTree, PogError> {
        if n == 0 {
            return Err(PogError::EmptyMatrix);
        }
        let expected = n.checked_mul(n).ok_or(PogError::SideTooLarge { n })?;
        if matrix.len() != expected {
            return Err(PogError::WrongMatrixSize {
                n,
                expected,
                found: matrix.len(),
            });
        }
        let sizes = level_sizes(n);
        let mut nodes = vec![[0u8; 32]; sizes.iter().sum()];
        parallel::for_each_row_run(&mut nodes[..n], 1, n, |first, leaves| {
            let rows = &matrix[first * n..(first + leaves.len()) * n];
            sha_lanes::leaves_into(rows, n, leaves);
        });
        let mut bounds = Vec::with_capacity(sizes.len() + 1);
        bounds.push(0);
        let mut start = 0;
        for &count in &sizes {
            let end = start + count;
            bounds.push(end);
            if end < nodes.len() {
                let (below, above) = nodes.split_at_mut(end);
                let level = &below[start..end];
                for (k, slot) in above[..count.div_ceil(2)].iter_mut().enumerate() {
                    let left = &level[2 * k];
                    let right = level.get(2 * k + 1).unwrap_or(left);
                    *slot = parent(left, right);
                }
            }
            start = end;
        }
        Ok(MerkleTree { nodes, bounds })
    }

    /// The root: the single node of the top level (the leaf itself when `n = 1`).
    pub fn root(&self) -> Node {
        // `build` never produces an empty tree, so the last node is the root.
        self.nodes[self.nodes.len() - 1]
    }

    /// Number of rows (leaves).
    pub fn leaves(&self) -> usize {
        self.bounds[1]
    }

    /// Sibling hashes for row `index`, bottom-up, [`proof_len`]`(n)` of them; where a
    /// level has no sibling for the node (odd count, last node), the node itself.
    pub fn proof(&self, index: usize) -> Result<Vec<Node>, PogError> {
        let leaves = self.leaves();
        if index >= leaves {
            return Err(PogError::IndexOutOfRange { index, leaves });
        }
        let mut proof = Vec::with_capacity(proof_len(leaves));
        let mut idx = index;
        // Every level except the root's contributes one sibling.
        for level in self.bounds.windows(2).take(self.bounds.len() - 2) {
            let nodes = &self.nodes[level[0]..level[1]];
            let sibling = nodes.get(idx ^ 1).unwrap_or(&nodes[idx]);
            proof.push(*sibling);
            idx /= 2;
        }
        Ok(proof)
    }

    /// All nodes level by level, leaves first, root last (the worker's tree-file order).
    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter()
    }
}

/// Checks that `row` is row `index` of the `n`-row matrix committed to by `root`.
///
/// Beyond the reference fold (§6.5) it requires `row.len() == n`,
/// `proof.len() == proof_len(n)` and `index < n`, checked in that order.
pub fn verify_proof(
    row: &[f32],
    index: usize,
    proof: &[Node],
    root: &Node,
    n: usize,
) -> Result<(), ProofError> {
    if row.len() != n {
        return Err(ProofError::WrongRowLength {
            expected: n,
            found: row.len(),
        });
    }
    if proof.len() != proof_len(n) {
        return Err(ProofError::WrongProofLength {
            expected: proof_len(n),
            found: proof.len(),
        });
    }
    if index >= n {
        return Err(ProofError::IndexOutOfRange { index, n });
    }
    let mut hash = leaf(row);
    let mut idx = index;
    for sibling in proof {
        hash = if idx & 1 == 0 {
            parent(&hash, sibling)
        } else {
            parent(sibling, &hash)
        };
        idx /= 2;
    }
    if hash == *root {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Node {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).expect("test vector is valid hex");
        out
    }

    #[test]
    fn spec_vector_three_rows() {
        let m: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let tree = MerkleTree::build(&m, 3).expect("3x3 matrix");
        let nodes: Vec<Node> = tree.nodes().copied().collect();
        assert_eq!(nodes.len(), 6);
        let hexes: Vec<String> = nodes.iter().map(hex::encode).collect();
        assert!(hexes[0].starts_with("8e628779") && hexes[0].ends_with("708524dd"));
        assert!(hexes[1].starts_with("3928b709") && hexes[1].ends_with("a86c944b"));
        assert!(hexes[2].starts_with("b7605cfd") && hexes[2].ends_with("91def859"));
        let inner01 = h("268aade2b5bd55e994d7fe0dfa627857b268fbc46defe339c2c98a92d9a26566");
        let inner22 = h("3171e3aaaf2568a43ebcdd89d56ebbb4359cb6874a75321659c2467abe457c34");
        let root = h("29e5bb1e23e306501d3f359f5fbe070aa828eeeecf6a9995ebe5b1a778dd5370");
        assert_eq!(nodes[3], inner01);
        assert_eq!(nodes[4], inner22);
        assert_eq!(tree.root(), root);
        assert_eq!(hex::encode(1.0f32.to_le_bytes()), "0000803f");
        assert_eq!(tree.proof(0).expect("row 0"), vec![nodes[1], inner22]);
        assert_eq!(tree.proof(2).expect("row 2"), vec![nodes[2], inner01]);
        for i in 0..3 {
            let proof = tree.proof(i).expect("row in range");
            verify_proof(&m[3 * i..3 * i + 3], i, &proof, &root, 3).expect("honest proof");
        }
    }

    #[test]
    fn single_row_tree_is_its_leaf() {
        let tree = MerkleTree::build(&[2.5], 1).expect("1x1 matrix");
        assert_eq!(tree.root(), leaf(&[2.5]));
        assert_eq!(tree.proof(0).expect("row 0"), Vec::<Node>::new());
        assert_eq!(tree.leaves(), 1);
        verify_proof(&[2.5], 0, &[], &tree.root(), 1).expect("honest proof");
    }

    #[test]
    fn proof_len_and_levels() {
        assert_eq!(proof_len(0), 0);
        assert_eq!(proof_len(1), 0);
        assert_eq!(proof_len(2), 1);
        assert_eq!(proof_len(3), 2);
        assert_eq!(proof_len(4), 2);
        assert_eq!(proof_len(5), 3);
        assert_eq!(proof_len(20704), 15);
        assert_eq!(level_sizes(5), vec![5, 3, 2, 1]);
        assert_eq!(level_sizes(1), vec![1]);
        assert!(level_sizes(0).is_empty());
        assert_eq!(node_count(3), 6);
        for n in 1..300 {
            assert_eq!(level_sizes(n).len(), proof_len(n) + 1, "n = {n}");
        }
    }

    #[test]
    fn build_rejects_bad_shapes() {
        assert_eq!(MerkleTree::build(&[], 0), Err(PogError::EmptyMatrix));
        assert_eq!(
            MerkleTree::build(&[1.0; 5], 2),
            Err(PogError::WrongMatrixSize {
                n: 2,
                expected: 4,
                found: 5
            })
        );
        assert_eq!(
            MerkleTree::build(&[1.0], usize::MAX),
            Err(PogError::SideTooLarge { n: usize::MAX })
        );
        let tree = MerkleTree::build(&[1.0; 4], 2).expect("2x2");
        assert_eq!(
            tree.proof(2),
            Err(PogError::IndexOutOfRange {
                index: 2,
                leaves: 2
            })
        );
    }

    #[test]
    fn hardening_rejects_inner_node_posing_as_row() {
        // Rows 0 and 1 of a 4-row tree, concatenated, hash to the level-1 node; a 16-value
        // "row" made of their leaf bytes would fold to the root with a shorter proof.
        let n = 4;
        let m: Vec<f32> = (0..16).map(|v| v as f32 * 0.5).collect();
        let tree = MerkleTree::build(&m, n).expect("4x4");
        let nodes: Vec<Node> = tree.nodes().copied().collect();
        let mut fake = Vec::new();
        for node in &nodes[0..2] {
            for w in node.chunks_exact(4) {
                fake.push(f32::from_le_bytes([w[0], w[1], w[2], w[3]]));
            }
        }
        let short_proof = vec![nodes[5]];
        assert_eq!(
            verify_proof(&fake, 0, &short_proof, &tree.root(), n),
            Err(ProofError::WrongRowLength {
                expected: 4,
                found: 16
            })
        );
        assert_eq!(
            verify_proof(&m[0..4], 0, &short_proof, &tree.root(), n),
            Err(ProofError::WrongProofLength {
                expected: 2,
                found: 1
            })
        );
        let proof = tree.proof(0).expect("row 0");
        assert_eq!(
            verify_proof(&m[0..4], 4, &proof, &tree.root(), n),
            Err(ProofError::IndexOutOfRange { index: 4, n: 4 })
        );
    }

    #[test]
    fn hash_leaves_checks_lengths_and_matches_leaf() {
        let m: Vec<f32> = (0..7 * 13).map(|v| v as f32 / 7.0).collect();
        let mut out = vec![[0u8; 32]; 7];
        hash_leaves(&m, 13, &mut out).expect("7 rows of 13");
        for (r, d) in out.iter().enumerate() {
            assert_eq!(*d, leaf(&m[r * 13..(r + 1) * 13]));
        }
        assert_eq!(
            hash_leaves(&m, 12, &mut out),
            Err(PogError::WrongRowsSize {
                rows: 7,
                n: 12,
                expected: 84,
                found: 91
            })
        );
    }

    #[test]
    fn threaded_build_matches_sequential_definition() {
        let n = 600;
        let m = crate::pog::prng::matrix(77, n, crate::pog::prng::Conversion::Miner);
        let tree = MerkleTree::build(&m, n).expect("600x600");
        let mut level: Vec<Node> = m.chunks_exact(n).map(leaf).collect();
        let mut all = level.clone();
        while level.len() > 1 {
            level = level
                .chunks(2)
                .map(|pair| parent(&pair[0], pair.get(1).unwrap_or(&pair[0])))
                .collect();
            all.extend_from_slice(&level);
        }
        assert_eq!(tree.nodes().copied().collect::<Vec<_>>(), all);
    }
}
