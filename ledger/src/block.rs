//! Block headers, transaction receipts, and certified blocks as they are stored and served.
//!
//! Canonical layouts (MessagePack arrays in exactly this field order; see [`crate::codec`]):
//! - [`Header`]: `[chain_id: uint, height: uint, parent_hash: bin32, timestamp_ms: uint,
//!   state_root: bin32, transactions_root: bin32, receipts_root: bin32,
//!   validator_set_hash: bin32, proposer: bin20]`, and from block format 2 on a tenth element,
//!   `format: uint` ([`BlockFormat`]; a header without it is format 1, so the headers made
//!   before format 2 keep their bytes and hashes). The block hash is keccak256 of these bytes.
//! - [`Receipt`]: `[tx_hash: bin32, index: uint, sender: bin20, to: bin20, nonce: uint,
//!   value: bin32 (U256 big-endian), gas_used: uint, effective_gas_price: bin16,
//!   fee: bin32 (U256 big-endian)]`. `effective_gas_price` is a `u128`, which `rmp-serde` always
//!   writes as `bin` of exactly 16 big-endian bytes (never as a MessagePack integer), so it is
//!   fixed-width and canonical.
//!   From block format 3 on, the receipts root's leaves are not keccak256 of this encoding
//!   but of a fixed layout of 133 bytes ([`Receipt::compact_hash`]).
//! - [`CertifiedBlock`]: `[header: Header, certificate: QuorumCertificate,
//!   transactions: [bin, ...], receipts: [Receipt, ...]]`.
//!
//! Height 0 is the genesis block: `parent_hash` is zero and its certificate is
//! [`QuorumCertificate::genesis`], which nobody signs.

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::codec::{self, CodecError};
use crate::consensus::QuorumCertificate;
use crate::limits::{
    BLOCK_TXS_MAX, CERTIFIED_BLOCK_BYTES_MAX, HEADER_BYTES_MAX, RECEIPT_BYTES_MAX, TX_BYTES_MAX,
};
use crate::merkle::{
    MerkleProof, MerkleResult, merkle_proof, merkle_root, quaternary_proof, quaternary_root,
};
use crate::primitives::{Address, Hash, U256, keccak256, u256_bytes};

/// Why a block, header or receipt was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// The bytes did not decode (too large, malformed, trailing bytes or not canonical).
    #[error("block encoding: {0}")]
    Codec(#[from] CodecError),
    /// More transactions than a block may hold.
    #[error("block has {got} transactions, the limit is {limit}")]
    TooManyTransactions {
        /// Transactions in the block.
        got: usize,
        /// Largest allowed count.
        limit: usize,
    },
    /// A raw transaction is larger than any valid one.
    #[error("transaction {index} is {got} bytes, the limit is {limit}")]
    TransactionTooLarge {
        /// Position in the block.
        index: usize,
        /// Its size.
        got: usize,
        /// Largest allowed size.
        limit: usize,
    },
    /// Transactions and receipts are not one to one.
    #[error("block has {transactions} transactions but {receipts} receipts")]
    ReceiptCount {
        /// Transactions in the block.
        transactions: usize,
        /// Receipts in the block.
        receipts: usize,
    },
    /// A receipt does not belong to the transaction at its position.
    #[error("receipt {index} does not match its transaction")]
    ReceiptMismatch {
        /// Position in the block.
        index: usize,
    },
    /// The header's transactions root is not the root of the block's transactions.
    #[error("transactions root mismatch: header has {expected}, transactions give {got}")]
    TransactionsRoot {
        /// Root in the header.
        expected: Hash,
        /// Root computed from the transactions.
        got: Hash,
    },
    /// The header's receipts root is not the root of the block's receipts.
    #[error("receipts root mismatch: header has {expected}, receipts give {got}")]
    ReceiptsRoot {
        /// Root in the header.
        expected: Hash,
        /// Root computed from the receipts.
        got: Hash,
    },
    /// The certificate is for another height or block than the header.
    #[error(
        "certificate is for height {got_height} block {got_hash}, header is height {expected_height} block {expected_hash}"
    )]
    CertificateMismatch {
        /// The header's height.
        expected_height: u64,
        /// The header's hash.
        expected_hash: Hash,
        /// The certificate's height.
        got_height: u64,
        /// The certificate's block hash.
        got_hash: Hash,
    },
}

/// Result alias for blocks.
pub type BlockResult<T> = Result<T, BlockError>;

/// A block header: everything the block hash, and so the validators' votes, commit to.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Header {
    /// The chain this block belongs to (also bound into every vote).
    pub chain_id: u64,
    /// Position in the chain; 0 is genesis.
    pub height: u64,
    /// Hash of the previous header; zero at genesis.
    pub parent_hash: Hash,
    /// Proposer's clock when proposing, in milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// Root of the global state after executing this block.
    pub state_root: Hash,
    /// [`BlockFormat::transactions_root`] of the block's transaction hashes.
    pub transactions_root: Hash,
    /// [`BlockFormat::receipts_root`] of the block's receipts.
    pub receipts_root: Hash,
    /// [`crate::consensus::ValidatorSet::hash`] of the set that certifies this block.
    pub validator_set_hash: Hash,
    /// The account that proposed the block (the sequencer's identity).
    pub proposer: Address,
    /// The rules the roots follow. Left out of the encoding for format 1, written as a tenth
    /// field from format 2 on, so it is part of the block hash the certificate signs.
    #[serde(default, skip_serializing_if = "BlockFormat::is_v1")]
    pub format: BlockFormat,
}

/// Which rules a block's transactions and receipts roots follow (see [`crate::merkle`]).
///
/// Validators check a proposal under the format its header states, so a chain's blocks may
/// change format from one height to the next (the sequencer proposes [`Self::PROPOSED`]), and
/// every block already stored, archived or backed up keeps verifying under its own.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum BlockFormat {
    /// The binary tree, each leaf hashed first: the genesis block, and every block made before
    /// format 2. Its headers carry no format field.
    #[default]
    V1,
    /// The quaternary tree over the leaves themselves: about a sixth of the binary tree's
    /// keccak permutations for a block's two roots' trees.
    V2,
    /// Format 2's tree, with each receipt's leaf hashed from a fixed layout of 133 bytes
    /// ([`Receipt::compact_hash`]), one keccak permutation, instead of from its canonical
    /// encoding (about 180 bytes, two permutations, and a MessagePack encoding first).
    V3,
}

impl BlockFormat {
    /// The format the sequencer proposes new blocks in.
    pub const PROPOSED: Self = Self::V3;

    /// Every format this version knows, oldest first.
    pub const ALL: [Self; 3] = [Self::V1, Self::V2, Self::V3];

    /// The number written into a header.
    pub const fn number(self) -> u8 {
        match self {
            Self::V1 => 1,
            Self::V2 => 2,
            Self::V3 => 3,
        }
    }

    /// Format 1, which a header does not write (serde's `skip_serializing_if` takes a
    /// reference).
    pub const fn is_v1(&self) -> bool {
        matches!(self, Self::V1)
    }

    /// The Merkle root of `leaves` (transaction hashes or receipt leaves) under this format's
    /// tree.
    pub fn root(self, leaves: &[Hash]) -> Hash {
        match self {
            Self::V1 => merkle_root(leaves),
            Self::V2 | Self::V3 => quaternary_root(leaves),
        }
    }

    /// The header's transactions root: the root of the transaction hashes in block order.
    pub fn transactions_root(self, tx_hashes: &[Hash]) -> Hash {
        self.root(tx_hashes)
    }

    /// The header's receipts root: the root of the receipts' leaves ([`Self::receipt_leaf`]) in
    /// block order.
    pub fn receipts_root(self, receipts: &[Receipt]) -> Hash {
        let leaves: Vec<Hash> = receipts
            .iter()
            .map(|receipt| self.receipt_leaf(receipt))
            .collect();
        self.root(&leaves)
    }

    /// A receipt's leaf in the receipts root: [`Receipt::hash`] up to format 2,
    /// [`Receipt::compact_hash`] from format 3 on.
    pub fn receipt_leaf(self, receipt: &Receipt) -> Hash {
        match self {
            Self::V1 | Self::V2 => receipt.hash(),
            Self::V3 => receipt.compact_hash(),
        }
    }

    /// Proof that `leaves[index]` is in the list whose root is [`Self::root`].
    pub fn inclusion_proof(self, leaves: &[Hash], index: usize) -> MerkleResult<MerkleProof> {
        match self {
            Self::V1 => merkle_proof(leaves, index),
            Self::V2 | Self::V3 => quaternary_proof(leaves, index),
        }
    }

    /// Checks that `leaf` is at `index` of a `count`-leaf list with `root` under this format.
    pub fn verify_inclusion(
        self,
        proof: &MerkleProof,
        root: &Hash,
        leaf: &Hash,
        index: usize,
        count: usize,
    ) -> MerkleResult<()> {
        match self {
            Self::V1 => proof.verify(root, leaf, index, count),
            Self::V2 | Self::V3 => proof.verify_quaternary(root, leaf, index, count),
        }
    }
}

impl Serialize for BlockFormat {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(self.number())
    }
}

impl<'de> Deserialize<'de> for BlockFormat {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match u8::deserialize(deserializer)? {
            1 => Ok(Self::V1),
            2 => Ok(Self::V2),
            3 => Ok(Self::V3),
            other => Err(serde::de::Error::custom(format_args!(
                "block format {other} is not known (1 to 3 are)"
            ))),
        }
    }
}

impl Header {
    /// The canonical encoding (see the module docs for the layout).
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes a canonical header of at most [`HEADER_BYTES_MAX`] bytes.
    pub fn decode(bytes: &[u8]) -> BlockResult<Self> {
        Ok(codec::decode_canonical(bytes, HEADER_BYTES_MAX)?)
    }

    /// The block hash: keccak256 of the canonical encoding.
    pub fn hash(&self) -> Hash {
        keccak256(self.encode())
    }
}

/// What including one transaction did. One per transaction, in block order.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Receipt {
    /// keccak256 of the raw transaction.
    pub tx_hash: Hash,
    /// Position of the transaction in the block.
    pub index: u32,
    /// Recovered sender.
    pub sender: Address,
    /// Recipient.
    pub to: Address,
    /// The sender's nonce the transaction used.
    pub nonce: u64,
    /// Value transferred, in wei.
    #[serde(with = "u256_bytes")]
    pub value: U256,
    /// Gas charged (21000 for a value transfer).
    pub gas_used: u64,
    /// Price per gas actually paid, in wei.
    pub effective_gas_price: u128,
    /// `gas_used × effective_gas_price`, paid to the fee recipient, in wei.
    #[serde(with = "u256_bytes")]
    pub fee: U256,
}

impl Receipt {
    /// keccak256 of the canonical encoding: the leaf of the receipts root in block formats 1
    /// and 2.
    pub fn hash(&self) -> Hash {
        keccak256(codec::encode(self))
    }

    /// The leaf of the receipts root from block format 3 on: keccak256 of
    /// `0x04 ‖ tx_hash ‖ index ‖ sender ‖ to ‖ gas_used ‖ effective_gas_price ‖ fee`, the
    /// integers big-endian at their full widths (4, 8, 16 and 32 bytes). 133 bytes fit one
    /// keccak permutation (its rate is 136), where the canonical encoding takes two and a
    /// MessagePack encoding before them. The nonce and the value are left out: the
    /// transaction `tx_hash` names states both, and the transactions root commits to it at
    /// the same index. The first byte keeps these leaves apart from the tree's own nodes
    /// (`0x02` and `0x03`, 129 bytes at most).
    pub fn compact_hash(&self) -> Hash {
        let mut layout = [0u8; COMPACT_RECEIPT_BYTES];
        let fields: [&[u8]; 8] = [
            &[COMPACT_RECEIPT_PREFIX],
            &self.tx_hash.0,
            &self.index.to_be_bytes(),
            &self.sender.0,
            &self.to.0,
            &self.gas_used.to_be_bytes(),
            &self.effective_gas_price.to_be_bytes(),
            &self.fee.to_be_bytes::<32>(),
        ];
        let mut at = 0;
        for field in fields {
            layout[at..at + field.len()].copy_from_slice(field);
            at += field.len();
        }
        debug_assert_eq!(at, COMPACT_RECEIPT_BYTES);
        keccak256(layout)
    }

    /// Decodes a canonical receipt of at most [`RECEIPT_BYTES_MAX`] bytes.
    pub fn decode(bytes: &[u8]) -> BlockResult<Self> {
        Ok(codec::decode_canonical(bytes, RECEIPT_BYTES_MAX)?)
    }
}

/// Bytes of [`Receipt::compact_hash`]'s layout.
const COMPACT_RECEIPT_BYTES: usize = 1 + 32 + 4 + 20 + 20 + 8 + 16 + 32;

/// keccak256 absorbs 136 bytes a permutation and pads with at least one byte.
const _: () = assert!(COMPACT_RECEIPT_BYTES < 136);

/// First byte of [`Receipt::compact_hash`]'s layout.
const COMPACT_RECEIPT_PREFIX: u8 = 0x04;

/// A committed block as stored and served: header, its quorum certificate, raw transactions,
/// receipts.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct CertifiedBlock {
    /// The header the certificate signs.
    pub header: Header,
    /// Votes of more than two thirds of the validator set for this header.
    pub certificate: QuorumCertificate,
    /// Raw signed transactions, in block order.
    pub transactions: Vec<ByteBuf>,
    /// One receipt per transaction, in block order.
    pub receipts: Vec<Receipt>,
}

impl CertifiedBlock {
    /// The block hash (the header's hash).
    pub fn hash(&self) -> Hash {
        self.header.hash()
    }

    /// The canonical encoding (see the module docs for the layout).
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes a block of at most [`CERTIFIED_BLOCK_BYTES_MAX`] bytes and checks that it is
    /// consistent (see [`Self::check_consistency`]).
    ///
    /// Uses strict rather than canonical decoding: the block's identity is the hash of the
    /// re-encoded header, so a non-minimal encoding of the container changes nothing, and
    /// re-encoding megabytes to compare would cost CPU time the Worker has little of.
    pub fn decode(bytes: &[u8]) -> BlockResult<Self> {
        let block: Self = codec::decode(bytes, CERTIFIED_BLOCK_BYTES_MAX)?;
        block.check_consistency()?;
        Ok(block)
    }

    /// Hashes of the raw transactions, in block order.
    pub fn tx_hashes(&self) -> Vec<Hash> {
        self.transactions.iter().map(keccak256).collect()
    }

    /// Checks everything that needs no validator set: sizes, receipts one to one with the
    /// transactions, both roots, and that the certificate names this header.
    ///
    /// Whether the certificate's signatures hold is [`QuorumCertificate::verify`]'s job.
    pub fn check_consistency(&self) -> BlockResult<()> {
        self.check_sizes()?;
        let tx_hashes = self.tx_hashes();
        for (index, (receipt, tx_hash)) in self.receipts.iter().zip(&tx_hashes).enumerate() {
            if receipt.tx_hash != *tx_hash || usize::try_from(receipt.index) != Ok(index) {
                return Err(BlockError::ReceiptMismatch { index });
            }
        }
        let format = self.header.format;
        let got = format.transactions_root(&tx_hashes);
        if got != self.header.transactions_root {
            return Err(BlockError::TransactionsRoot {
                expected: self.header.transactions_root,
                got,
            });
        }
        let got = format.receipts_root(&self.receipts);
        if got != self.header.receipts_root {
            return Err(BlockError::ReceiptsRoot {
                expected: self.header.receipts_root,
                got,
            });
        }
        self.check_certificate_names_header()
    }

    /// Transaction count, receipt count and transaction sizes within limits.
    fn check_sizes(&self) -> BlockResult<()> {
        if self.transactions.len() > BLOCK_TXS_MAX {
            return Err(BlockError::TooManyTransactions {
                got: self.transactions.len(),
                limit: BLOCK_TXS_MAX,
            });
        }
        if self.receipts.len() != self.transactions.len() {
            return Err(BlockError::ReceiptCount {
                transactions: self.transactions.len(),
                receipts: self.receipts.len(),
            });
        }
        for (index, transaction) in self.transactions.iter().enumerate() {
            if transaction.len() > TX_BYTES_MAX {
                return Err(BlockError::TransactionTooLarge {
                    index,
                    got: transaction.len(),
                    limit: TX_BYTES_MAX,
                });
            }
        }
        Ok(())
    }

    /// The certificate's height and block hash are the header's (the genesis certificate names
    /// no hash and is accepted at height 0 only).
    fn check_certificate_names_header(&self) -> BlockResult<()> {
        let certificate = &self.certificate;
        let names_header = if self.header.height == 0 {
            *certificate == QuorumCertificate::genesis()
        } else {
            certificate.height == self.header.height && certificate.block_hash == self.hash()
        };
        if !names_header {
            return Err(BlockError::CertificateMismatch {
                expected_height: self.header.height,
                expected_hash: self.hash(),
                got_height: certificate.height,
                got_hash: certificate.block_hash,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::consensus::ValidatorSet;
    use crate::consensus::tests::{certify, validator_keys};

    /// A header at `height` whose fields are all distinct, for tests.
    pub(crate) fn sample_header(height: u64) -> Header {
        Header {
            chain_id: 31_337,
            height,
            parent_hash: keccak256(b"parent"),
            timestamp_ms: 1_700_000_000_000,
            state_root: keccak256(b"state"),
            transactions_root: Hash::ZERO,
            receipts_root: Hash::ZERO,
            validator_set_hash: keccak256(b"validators"),
            proposer: Address([7; 20]),
            format: BlockFormat::PROPOSED,
        }
    }

    fn sample_receipt(tx_hash: Hash, index: u32) -> Receipt {
        Receipt {
            tx_hash,
            index,
            sender: Address([1; 20]),
            to: Address([2; 20]),
            nonce: u64::from(index),
            value: U256::from(10u64).pow(U256::from(18u64)),
            gas_used: 21_000,
            effective_gas_price: 1_000_000_000,
            fee: U256::from(21_000u64 * 1_000_000_000),
        }
    }

    /// A consistent block with `count` transactions, certified by `set`'s first quorum.
    fn sample_block(count: usize) -> CertifiedBlock {
        sample_block_in(BlockFormat::PROPOSED, count)
    }

    /// [`sample_block`] with its roots in `format`.
    fn sample_block_in(format: BlockFormat, count: usize) -> CertifiedBlock {
        let keys = validator_keys(4);
        let set = ValidatorSet::new(keys.iter().map(|key| key.public_key()).collect())
            .expect("valid set");
        let transactions: Vec<ByteBuf> = (0..count)
            .map(|index| ByteBuf::from(vec![index as u8; 100 + index]))
            .collect();
        let tx_hashes: Vec<Hash> = transactions.iter().map(keccak256).collect();
        let receipts: Vec<Receipt> = tx_hashes
            .iter()
            .enumerate()
            .map(|(index, hash)| sample_receipt(*hash, index as u32))
            .collect();
        let header = Header {
            transactions_root: format.transactions_root(&tx_hashes),
            receipts_root: format.receipts_root(&receipts),
            validator_set_hash: set.hash(),
            format,
            ..sample_header(5)
        };
        let certificate = certify(&keys, &set, &header, 3);
        CertifiedBlock {
            header,
            certificate,
            transactions,
            receipts,
        }
    }

    #[test]
    fn header_layout_is_an_array_in_field_order() {
        let header = Header {
            format: BlockFormat::V1,
            ..sample_header(1)
        };
        let bytes = header.encode();
        assert_eq!(bytes[0], 0x99, "fixarray of 9 fields (format 1)");
        assert_eq!(
            &bytes[1..4],
            &[0xcd, 0x7a, 0x69],
            "chain id 31337 as uint16"
        );
        assert_eq!(bytes[4], 0x01, "height 1 as a positive fixint");
        assert_eq!(&bytes[5..7], &[0xc4, 32], "parent hash as bin8 of 32");
        assert!(bytes.len() < HEADER_BYTES_MAX);
        assert_eq!(Header::decode(&bytes), Ok(header));
        assert_eq!(header.hash(), keccak256(&bytes));
    }

    #[test]
    fn header_decode_refuses_non_canonical_and_oversize() {
        let mut bytes = sample_header(1).encode();
        // Height 1 as uint8 (0xcc 0x01) instead of a fixint.
        bytes.splice(4..5, [0xcc, 0x01]);
        assert_eq!(
            Header::decode(&bytes),
            Err(BlockError::Codec(CodecError::NotCanonical))
        );
        assert!(matches!(
            Header::decode(&vec![0u8; HEADER_BYTES_MAX + 1]),
            Err(BlockError::Codec(CodecError::TooLarge { .. }))
        ));
    }

    #[test]
    fn receipt_gas_price_is_sixteen_byte_bin() {
        let receipt = sample_receipt(keccak256(b"tx"), 0);
        let bytes = codec::encode(&receipt);
        let price = 1_000_000_000u128.to_be_bytes();
        let marker = [[0xc4, 16].as_slice(), price.as_slice()].concat();
        assert!(bytes.windows(18).any(|window| window == marker.as_slice()));
        assert_eq!(Receipt::decode(&bytes), Ok(receipt));
        let maximal = Receipt {
            index: u32::MAX,
            nonce: u64::MAX,
            gas_used: u64::MAX,
            effective_gas_price: u128::MAX,
            value: U256::MAX,
            fee: U256::MAX,
            ..receipt
        };
        assert!(codec::encode(&maximal).len() <= RECEIPT_BYTES_MAX);
    }

    #[test]
    fn each_format_has_its_own_tree() {
        let receipt = sample_receipt(keccak256(b"tx"), 0);
        let leaves = [receipt.hash()];
        for format in BlockFormat::ALL {
            assert_eq!(format.transactions_root(&[]), Hash::ZERO);
            assert_eq!(format.receipts_root(&[]), Hash::ZERO);
        }
        assert_eq!(
            BlockFormat::V1.receipts_root(&[receipt]),
            merkle_root(&leaves)
        );
        assert_eq!(
            BlockFormat::V2.receipts_root(&[receipt]),
            quaternary_root(&leaves)
        );
        assert_eq!(
            BlockFormat::V3.receipts_root(&[receipt]),
            quaternary_root(&[receipt.compact_hash()])
        );
        assert_ne!(merkle_root(&leaves), quaternary_root(&leaves));
        assert_ne!(receipt.hash(), receipt.compact_hash());
        // Format 3 changes only the receipts' leaves: the transactions tree is format 2's.
        let hashes = [receipt.tx_hash, keccak256(b"another")];
        assert_eq!(
            BlockFormat::V3.transactions_root(&hashes),
            BlockFormat::V2.transactions_root(&hashes)
        );
    }

    #[test]
    fn a_compact_receipt_hash_is_its_fixed_layout_hashed() {
        let receipt = Receipt {
            fee: U256::from(0x0102_0304_0506_0708u64) << 100,
            ..sample_receipt(keccak256(b"tx"), 0x0a0b_0c0d)
        };
        let mut layout = vec![0x04];
        layout.extend_from_slice(&receipt.tx_hash.0);
        layout.extend_from_slice(&[0x0a, 0x0b, 0x0c, 0x0d]);
        layout.extend_from_slice(&[1; 20]);
        layout.extend_from_slice(&[2; 20]);
        layout.extend_from_slice(&21_000u64.to_be_bytes());
        layout.extend_from_slice(&1_000_000_000u128.to_be_bytes());
        layout.extend_from_slice(&receipt.fee.to_be_bytes::<32>());
        assert_eq!(layout.len(), 133, "one keccak permutation");
        assert_eq!(receipt.compact_hash(), keccak256(&layout));
    }

    #[test]
    fn a_compact_receipt_hash_follows_every_field_but_nonce_and_value() {
        let receipt = sample_receipt(keccak256(b"tx"), 3);
        let hash = receipt.compact_hash();
        let changed = [
            Receipt {
                tx_hash: keccak256(b"other"),
                ..receipt
            },
            Receipt {
                index: 4,
                ..receipt
            },
            Receipt {
                sender: Address([3; 20]),
                ..receipt
            },
            Receipt {
                to: Address([3; 20]),
                ..receipt
            },
            Receipt {
                gas_used: 21_001,
                ..receipt
            },
            Receipt {
                effective_gas_price: 1_000_000_001,
                ..receipt
            },
            Receipt {
                fee: receipt.fee + U256::from(1u64),
                ..receipt
            },
        ];
        for other in changed {
            assert_ne!(other.compact_hash(), hash, "{other:?}");
        }
        // The transaction the hash names states these (the transactions root commits to it).
        let restated = Receipt {
            nonce: 99,
            value: U256::ZERO,
            ..receipt
        };
        assert_eq!(restated.compact_hash(), hash);
    }

    #[test]
    fn a_format_1_header_keeps_nine_fields_and_later_ones_state_theirs() {
        let v1 = Header {
            format: BlockFormat::V1,
            ..sample_header(3)
        };
        let v2 = Header {
            format: BlockFormat::V2,
            ..v1
        };
        let (v1_bytes, v2_bytes) = (v1.encode(), v2.encode());
        // fixarray headers: nine elements before format 2, ten with it, the tenth a 2.
        assert_eq!(v1_bytes[0], 0x99);
        assert_eq!(v2_bytes[0], 0x9a);
        assert_eq!(v2_bytes[1..v2_bytes.len() - 1], v1_bytes[1..]);
        assert_eq!(v2_bytes.last(), Some(&2));
        assert_eq!(Header::decode(&v1_bytes), Ok(v1));
        assert_eq!(Header::decode(&v2_bytes), Ok(v2));
        assert_ne!(v1.hash(), v2.hash(), "the format is part of the block hash");

        let v3 = Header {
            format: BlockFormat::V3,
            ..v1
        };
        let v3_bytes = v3.encode();
        assert_eq!(
            v3_bytes[..v3_bytes.len() - 1],
            v2_bytes[..v2_bytes.len() - 1]
        );
        assert_eq!(v3_bytes.last(), Some(&3));
        assert_eq!(Header::decode(&v3_bytes), Ok(v3));

        // Format 1 written out is not canonical (its header has nine fields), and formats
        // this version does not know are refused.
        for tenth in [1u8, 0, 4, 0x7f] {
            let mut bytes = v2_bytes.clone();
            *bytes.last_mut().expect("non-empty") = tenth;
            assert!(
                matches!(Header::decode(&bytes), Err(BlockError::Codec(_))),
                "{tenth}"
            );
        }

        let json = serde_json::to_value(v2).expect("serialises");
        assert_eq!(json["format"], 2);
        assert!(
            serde_json::to_value(v1)
                .expect("serialises")
                .get("format")
                .is_none()
        );
        assert_eq!(serde_json::from_value::<Header>(json).ok(), Some(v2));
    }

    #[test]
    fn a_block_is_checked_under_the_format_its_header_states() {
        let keys = validator_keys(4);
        let set = ValidatorSet::new(keys.iter().map(|key| key.public_key()).collect())
            .expect("valid set");
        for format in BlockFormat::ALL {
            let block = sample_block_in(format, 6);
            assert_eq!(CertifiedBlock::decode(&block.encode()), Ok(block.clone()));
            assert_eq!(block.check_consistency(), Ok(()));
            // The same roots stated under another format do not verify: formats 1 and 2 differ
            // in both trees, formats 2 and 3 only in the receipts' leaves.
            for other in BlockFormat::ALL
                .into_iter()
                .filter(|other| *other != format)
            {
                let header = Header {
                    format: other,
                    ..block.header
                };
                let restated = CertifiedBlock {
                    certificate: certify(&keys, &set, &header, 3),
                    header,
                    ..block.clone()
                };
                let error = restated.check_consistency();
                if format == BlockFormat::V1 || other == BlockFormat::V1 {
                    assert!(
                        matches!(error, Err(BlockError::TransactionsRoot { .. })),
                        "{format:?} as {other:?}: {error:?}"
                    );
                } else {
                    assert!(
                        matches!(error, Err(BlockError::ReceiptsRoot { .. })),
                        "{format:?} as {other:?}: {error:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn inclusion_proofs_follow_the_format() {
        let leaves: Vec<Hash> = (0..23u8).map(|index| keccak256([index])).collect();
        for format in BlockFormat::ALL {
            let root = format.root(&leaves);
            for (index, leaf) in leaves.iter().enumerate() {
                let proof = format.inclusion_proof(&leaves, index).expect("in range");
                assert_eq!(
                    format.verify_inclusion(&proof, &root, leaf, index, leaves.len()),
                    Ok(())
                );
            }
        }
        let proof = BlockFormat::V2
            .inclusion_proof(&leaves, 5)
            .expect("in range");
        let root = BlockFormat::V1.root(&leaves);
        assert!(
            BlockFormat::V1
                .verify_inclusion(&proof, &root, &leaves[5], 5, leaves.len())
                .is_err()
        );
    }

    #[test]
    fn certified_block_round_trip_and_consistency() {
        let block = sample_block(5);
        let bytes = block.encode();
        assert_eq!(CertifiedBlock::decode(&bytes), Ok(block.clone()));
        assert_eq!(block.tx_hashes().len(), 5);
        assert_eq!(block.hash(), block.header.hash());

        let mut missing_receipt = block.clone();
        missing_receipt.receipts.pop();
        assert!(matches!(
            CertifiedBlock::decode(&missing_receipt.encode()),
            Err(BlockError::ReceiptCount { .. })
        ));
        let mut swapped = block.clone();
        swapped.transactions.swap(0, 1);
        assert_eq!(
            swapped.check_consistency(),
            Err(BlockError::ReceiptMismatch { index: 0 })
        );
        let mut changed_tx = block.clone();
        changed_tx.transactions[4] = ByteBuf::from(vec![9; 10]);
        changed_tx.receipts[4].tx_hash = keccak256(&changed_tx.transactions[4]);
        assert!(matches!(
            changed_tx.check_consistency(),
            Err(BlockError::TransactionsRoot { .. })
        ));
        let mut changed_receipt = block.clone();
        changed_receipt.receipts[2].fee = U256::ZERO;
        assert!(matches!(
            changed_receipt.check_consistency(),
            Err(BlockError::ReceiptsRoot { .. })
        ));
        let mut other_header = block.clone();
        other_header.header.timestamp_ms += 1;
        assert!(matches!(
            other_header.check_consistency(),
            Err(BlockError::CertificateMismatch { .. })
        ));
        let mut big_tx = block;
        big_tx.transactions[0] = ByteBuf::from(vec![0; TX_BYTES_MAX + 1]);
        assert!(matches!(
            big_tx.check_consistency(),
            Err(BlockError::TransactionTooLarge { index: 0, .. })
        ));
    }

    #[test]
    fn genesis_block_takes_the_genesis_certificate_only() {
        let header = Header {
            height: 0,
            parent_hash: Hash::ZERO,
            ..sample_header(0)
        };
        let genesis = CertifiedBlock {
            header,
            certificate: QuorumCertificate::genesis(),
            transactions: Vec::new(),
            receipts: Vec::new(),
        };
        assert_eq!(genesis.check_consistency(), Ok(()));
        let mut later = genesis.clone();
        later.header.height = 1;
        assert!(matches!(
            later.check_consistency(),
            Err(BlockError::CertificateMismatch { .. })
        ));
    }

    #[test]
    fn garbage_block_bytes_are_an_error() {
        assert!(CertifiedBlock::decode(&[0x94, 0xc1]).is_err());
        assert!(CertifiedBlock::decode(&[]).is_err());
    }

    #[cfg(not(target_arch = "wasm32"))]
    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn any_hash() -> impl Strategy<Value = Hash> {
            any::<[u8; 32]>().prop_map(Hash)
        }

        fn any_address() -> impl Strategy<Value = Address> {
            any::<[u8; 20]>().prop_map(Address)
        }

        prop_compose! {
            fn any_header()(
                chain_id in any::<u64>(), height in any::<u64>(), parent_hash in any_hash(),
                timestamp_ms in any::<u64>(), state_root in any_hash(),
                transactions_root in any_hash(), receipts_root in any_hash(),
                validator_set_hash in any_hash(), proposer in any_address(),
                format in prop::sample::select(BlockFormat::ALL.to_vec()),
            ) -> Header {
                Header {
                    chain_id, height, parent_hash, timestamp_ms, state_root,
                    transactions_root, receipts_root, validator_set_hash, proposer, format,
                }
            }
        }

        prop_compose! {
            fn any_receipt()(
                tx_hash in any_hash(), index in any::<u32>(), sender in any_address(),
                to in any_address(), nonce in any::<u64>(), value in any::<[u8; 32]>(),
                gas_used in any::<u64>(), effective_gas_price in any::<u128>(),
                fee in any::<[u8; 32]>(),
            ) -> Receipt {
                Receipt {
                    tx_hash, index, sender, to, nonce,
                    value: U256::from_be_bytes(value), gas_used, effective_gas_price,
                    fee: U256::from_be_bytes(fee),
                }
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            #[test]
            fn header_round_trips(header in any_header()) {
                let bytes = header.encode();
                prop_assert!(bytes.len() <= HEADER_BYTES_MAX);
                prop_assert_eq!(Header::decode(&bytes), Ok(header));
            }

            #[test]
            fn receipt_round_trips(receipt in any_receipt()) {
                let bytes = codec::encode(&receipt);
                prop_assert!(bytes.len() <= RECEIPT_BYTES_MAX);
                prop_assert_eq!(Receipt::decode(&bytes), Ok(receipt));
            }

            #[test]
            fn certified_block_round_trips(
                header in any_header(),
                receipts in proptest::collection::vec(any_receipt(), 0..6),
                signatures in proptest::collection::vec((any::<u8>(), any_hash(), any_hash(), any::<bool>()), 0..4),
            ) {
                let transactions: Vec<ByteBuf> = receipts
                    .iter()
                    .map(|receipt| ByteBuf::from(receipt.tx_hash.0.to_vec()))
                    .collect();
                let certificate = QuorumCertificate {
                    height: header.height,
                    block_hash: header.hash(),
                    votes: signatures
                        .into_iter()
                        .map(|(index, r, s, y_parity)| {
                            (index, crate::signature::RecoverableSignature { r, s, y_parity })
                        })
                        .collect(),
                };
                let block = CertifiedBlock { header, certificate, transactions, receipts };
                let bytes = block.encode();
                let decoded: CertifiedBlock =
                    codec::decode_canonical(&bytes, CERTIFIED_BLOCK_BYTES_MAX).expect("decodes");
                prop_assert_eq!(decoded, block);
            }
        }
    }
}
