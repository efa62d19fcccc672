//! The shapes of the public API's answers. Field names are part of the API: JSON answers use
//! them as keys, MessagePack answers (`Accept: application/msgpack`) as map keys, with hashes
//! and addresses as `0x` hex in JSON and raw `bin` in MessagePack.

use serde::{Deserialize, Serialize};

use crate::block::{Header, Receipt};
use crate::consensus::{ConsensusError, QuorumCertificate, ValidatorSet};
use crate::primitives::{Address, Hash, U256, u256_bytes};
use crate::state::Account;
use crate::trie::{AccountProof, ProofError, top_path};
use crate::wire::{AccountContext, ShardAccount};

use super::{ApiError, Reason};

/// `GET /v1/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusAnswer {
    /// The chain id transactions must be signed for.
    pub chain_id: u64,
    /// Height of the latest certified block.
    pub head_height: u64,
    /// Its hash.
    pub head_hash: Hash,
    /// Transactions waiting in the mempool.
    pub mempool_size: u64,
    /// The validators' addresses.
    pub validators: Vec<Address>,
    /// Shards the state is split into.
    pub shard_count: u32,
    /// Whether block production is paused by an operator.
    pub paused: bool,
}

/// `GET /v1/accounts/{address}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountAnswer {
    /// The account.
    pub address: Address,
    /// Committed nonce: transactions included so far.
    pub nonce: u64,
    /// Committed balance in wei.
    #[serde(with = "u256_bytes")]
    pub balance: U256,
    /// The nonce the account's next transaction should carry, counting pending ones.
    pub pending_nonce: u64,
    /// With `?proof=true`: a proof of the committed state against a certified header.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub proof: Option<CertifiedAccountProof>,
}

impl AccountAnswer {
    /// Builds the answer from what the account's shard holds and what the sequencer knows at
    /// the shard's height: committed state from the shard, pending nonce from the mempool, and
    /// (when the shard sent one) the proof extended with the top path to the certified header.
    ///
    /// The two must describe the same block: a shard that has not yet applied the head (or a
    /// context for another height) gives 503 `state_moving`, which a client simply retries.
    pub fn assemble(
        address: Address,
        shard: ShardAccount,
        context: AccountContext,
    ) -> Result<Self, ApiError> {
        let shard_index = usize::from(shard.meta.shard);
        let roots = &context.shard_roots;
        if !roots.len().is_power_of_two() || shard_index >= roots.len() {
            return Err(ApiError::new(
                500,
                "internal_error",
                format!(
                    "{} shard roots cannot include shard {shard_index}",
                    roots.len()
                ),
            ));
        }
        if context.header.height != shard.meta.applied_height
            || roots[shard_index] != shard.meta.root
        {
            return Err(ApiError::new(
                503,
                "state_moving",
                format!(
                    "shard {shard_index} is at height {} and the header at {}: retry",
                    shard.meta.applied_height, context.header.height
                ),
            ));
        }
        let account = shard.account.unwrap_or_default();
        let proof = shard.proof.map(|proof| CertifiedAccountProof {
            proof: proof.with_top_path(top_path(roots, shard.meta.shard)),
            header: context.header,
            certificate: context.certificate,
        });
        Ok(Self {
            address,
            nonce: account.nonce,
            balance: account.balance,
            pending_nonce: context.pending_nonce.max(account.nonce),
            proof,
        })
    }
}

/// An account proof a client can check with nothing but this crate and the validator set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertifiedAccountProof {
    /// The latest certified header; its state root is what the proof is against.
    pub header: Header,
    /// The header's quorum certificate.
    pub certificate: QuorumCertificate,
    /// Inclusion (or non-inclusion) proof of the account under `header.state_root`.
    pub proof: AccountProof,
}

/// Why a certified account proof does not check out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertifiedProofError {
    /// The certificate does not certify the header for this validator set and chain.
    #[error("certificate: {0}")]
    Certificate(#[from] ConsensusError),
    /// The proof does not lead from the account to the header's state root.
    #[error("proof: {0}")]
    Proof(#[from] ProofError),
}

impl CertifiedAccountProof {
    /// Checks the certificate over the header, then the proof against its state root, and
    /// gives the proven account state (`None`: the account does not exist).
    ///
    /// At height 0 the genesis certificate carries no votes: a client must compare
    /// `header.hash()` with the genesis hash it trusts.
    pub fn verify(
        &self,
        validators: &ValidatorSet,
        chain_id: u64,
        address: &Address,
    ) -> Result<Option<Account>, CertifiedProofError> {
        self.certificate
            .verify(validators, chain_id, &self.header)?;
        Ok(self.proof.verify(&self.header.state_root, address)?)
    }
}

/// Where a transaction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxState {
    /// Durably queued, not yet in a block.
    Pending,
    /// In a certified block.
    Committed,
    /// Dropped or refused, with a reason; it will never be included.
    Rejected,
    /// Never seen (or refused before it was queued).
    Unknown,
}

/// `GET /v1/txs/{hash}`: one flat object, the fields present depending on `status`
/// (`height`, `block_hash`, `index` and `receipt` when committed; `reason` when rejected).
///
/// Flat rather than a tagged enum: serde's flattening cannot carry the receipt's `u128` gas
/// price, and a flat object is what clients find easiest to read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxStatusAnswer {
    /// The transaction's hash.
    pub hash: Hash,
    /// Where it stands.
    pub status: TxState,
    /// Height of the block that includes it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub height: Option<u64>,
    /// Hash of that block.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub block_hash: Option<Hash>,
    /// Position in that block.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub index: Option<u32>,
    /// Its receipt.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub receipt: Option<Receipt>,
    /// Why it was rejected.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<Reason>,
}

impl TxStatusAnswer {
    fn bare(hash: Hash, status: TxState) -> Self {
        Self {
            hash,
            status,
            height: None,
            block_hash: None,
            index: None,
            receipt: None,
            reason: None,
        }
    }

    /// Queued, not yet in a block.
    pub fn pending(hash: Hash) -> Self {
        Self::bare(hash, TxState::Pending)
    }

    /// Never seen.
    pub fn unknown(hash: Hash) -> Self {
        Self::bare(hash, TxState::Unknown)
    }

    /// Dropped or refused.
    pub fn rejected(hash: Hash, reason: Reason) -> Self {
        Self {
            reason: Some(reason),
            ..Self::bare(hash, TxState::Rejected)
        }
    }

    /// In the block at `height` with hash `block_hash`.
    pub fn committed(height: u64, block_hash: Hash, receipt: Receipt) -> Self {
        Self {
            height: Some(height),
            block_hash: Some(block_hash),
            index: Some(receipt.index),
            receipt: Some(receipt),
            ..Self::bare(receipt.tx_hash, TxState::Committed)
        }
    }
}

/// `GET /v1/blocks/{height|hash|latest}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockAnswer {
    /// The block's hash.
    pub hash: Hash,
    /// Its header.
    pub header: Header,
    /// Its quorum certificate.
    pub certificate: QuorumCertificate,
    /// Its transactions' hashes, in block order.
    pub transactions: Vec<Hash>,
}
