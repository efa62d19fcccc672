//! Proposals and what a validator checks before it votes.
//!
//! A validator trusts nothing in a proposal: it checks that the parent is certified (by the
//! genesis hash it was configured with, or by the parent's quorum certificate), that the
//! header continues the parent, every transaction signature against the public key the
//! proposal carries, the witness against the parent's state root, and then re-executes the
//! block and compares every root. Only then does its [`Guard`] decide whether it may sign.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::block::Header;
use crate::consensus::{ConsensusError, Guard, QuorumCertificate, Vote};
use crate::execution::{Exclusion, Execution, ExecutionError, execute};
use crate::genesis::ChainConfig;
use crate::limits::{BLOCK_TXS_MAX, TIMESTAMP_DRIFT_MS_MAX};
use crate::primitives::Hash;
use crate::signature::SecretKey;
use crate::transaction::{self, TxRejection, VerifiedTx, WireTx};
use crate::trie::Witness;

/// A block proposed for votes, with everything needed to check it without any storage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    /// The proposed header.
    pub header: Header,
    /// The parent block's header.
    pub parent: Header,
    /// The parent's quorum certificate (the genesis certificate when the parent is block 0).
    pub parent_certificate: QuorumCertificate,
    /// The block's transactions with their senders' public keys, in block order.
    pub transactions: Vec<WireTx>,
    /// Merkle proofs of every account the block touches, against the parent's state root.
    pub witness: Witness,
}

/// What a validator needs to know about the chain, from its deployment configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainContext {
    /// The chain's parameters.
    pub config: ChainConfig,
    /// Hash of block 0, the root of trust.
    pub genesis_hash: Hash,
}

/// Why a proposal was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposalError {
    /// Header or parent is for another chain.
    #[error("proposal is for chain {got}, expected {expected}")]
    WrongChain {
        /// Chain id found.
        got: u64,
        /// This chain's id.
        expected: u64,
    },
    /// The header does not continue the parent (height or parent hash).
    #[error("header does not extend its parent: {0}")]
    NotAChild(&'static str),
    /// Height 1 must sit on the configured genesis block.
    #[error("parent block 0 is not this chain's genesis")]
    WrongGenesis,
    /// The parent's certificate does not certify the parent.
    #[error("parent certificate: {0}")]
    ParentCertificate(ConsensusError),
    /// The timestamp does not increase, or is too far in the validator's future.
    #[error("timestamp {got} must be after {parent} and at most {latest}")]
    Timestamp {
        /// Timestamp in the header.
        got: u64,
        /// Parent's timestamp.
        parent: u64,
        /// Latest acceptable by the validator's clock.
        latest: u64,
    },
    /// Proposer or validator set hash differ from the chain's.
    #[error("header field {0} does not match the chain configuration")]
    Configuration(&'static str),
    /// A block must hold between 1 and [`BLOCK_TXS_MAX`] transactions.
    #[error("block has {0} transactions")]
    TransactionCount(usize),
    /// A transaction failed decoding or its signature check.
    #[error("transaction {index}: {reason}")]
    Transaction {
        /// Position in the block.
        index: usize,
        /// Why.
        reason: TxRejection,
    },
    /// The same transaction appears twice.
    #[error("transaction {0} appears twice")]
    DuplicateTransaction(Hash),
    /// A transaction would not succeed, so it may not be in a block.
    #[error("transaction {hash} is not includable: {reason}")]
    NotIncludable {
        /// The transaction.
        hash: Hash,
        /// Why execution excluded it.
        reason: Exclusion,
    },
    /// Execution failed (bad witness, overflow).
    #[error("execution: {0}")]
    Execution(#[from] ExecutionError),
    /// A root in the header differs from re-execution.
    #[error("{field} mismatch: header has {got}, re-execution gives {expected}")]
    RootMismatch {
        /// Which root.
        field: &'static str,
        /// Value in the header.
        got: Hash,
        /// Value computed.
        expected: Hash,
    },
    /// The validator's guard refuses to sign (equivocation or a stale height).
    #[error("guard: {0}")]
    Guard(ConsensusError),
    /// The signing key is not a member of the validator set (a deployment mistake).
    #[error("this validator's key is not in the validator set: {0}")]
    NotAValidator(ConsensusError),
}

/// Result alias for proposal checks.
pub type ProposalResult<T> = Result<T, ProposalError>;

/// A proposal that passed every check.
#[derive(Debug, Clone)]
pub struct CheckedProposal {
    /// The header's hash: what a vote signs.
    pub block_hash: Hash,
    /// The verified transactions, in block order.
    pub transactions: Vec<VerifiedTx>,
    /// The re-execution.
    pub execution: Execution,
}

/// Runs every check a validator makes on a proposal. `now_ms` is the validator's clock.
pub fn check_proposal(
    context: &ChainContext,
    proposal: &Proposal,
    now_ms: u64,
) -> ProposalResult<CheckedProposal> {
    // Cheap checks first, so a hostile proposal is refused before any signature work.
    check_header_fields(context, &proposal.header, &proposal.parent, now_ms)?;
    check_lineage(context, proposal)?;
    let transactions = verify_transactions(context.config.chain_id, &proposal.transactions)?;
    let execution = execute(
        &context.config,
        &proposal.parent.state_root,
        proposal.header.height,
        proposal.header.format,
        &transactions,
        proposal.witness.clone(),
    )?;
    check_execution(&proposal.header, &transactions, &execution)?;
    Ok(CheckedProposal {
        block_hash: proposal.header.hash(),
        transactions,
        execution,
    })
}

/// The header extends a certified parent of this chain.
fn check_lineage(context: &ChainContext, proposal: &Proposal) -> ProposalResult<()> {
    let (header, parent) = (&proposal.header, &proposal.parent);
    for chain_id in [header.chain_id, parent.chain_id] {
        if chain_id != context.config.chain_id {
            return Err(ProposalError::WrongChain {
                got: chain_id,
                expected: context.config.chain_id,
            });
        }
    }
    if parent.height.checked_add(1) != Some(header.height) {
        return Err(ProposalError::NotAChild("height"));
    }
    let parent_hash = parent.hash();
    if header.parent_hash != parent_hash {
        return Err(ProposalError::NotAChild("parent hash"));
    }
    if parent.height == 0 {
        if parent_hash != context.genesis_hash {
            return Err(ProposalError::WrongGenesis);
        }
        if proposal.parent_certificate != QuorumCertificate::genesis() {
            return Err(ProposalError::ParentCertificate(ConsensusError::Genesis));
        }
        return Ok(());
    }
    proposal
        .parent_certificate
        .verify(&context.config.validators, context.config.chain_id, parent)
        .map_err(ProposalError::ParentCertificate)
}

fn check_header_fields(
    context: &ChainContext,
    header: &Header,
    parent: &Header,
    now_ms: u64,
) -> ProposalResult<()> {
    let latest = now_ms.saturating_add(TIMESTAMP_DRIFT_MS_MAX);
    if header.timestamp_ms <= parent.timestamp_ms || header.timestamp_ms > latest {
        return Err(ProposalError::Timestamp {
            got: header.timestamp_ms,
            parent: parent.timestamp_ms,
            latest,
        });
    }
    if header.proposer != context.config.proposer {
        return Err(ProposalError::Configuration("proposer"));
    }
    if header.validator_set_hash != context.config.validators.hash() {
        return Err(ProposalError::Configuration("validator_set_hash"));
    }
    Ok(())
}

/// Checks every signature against the public key carried with it, and refuses duplicates.
///
/// The signatures are checked together first ([`transaction::verify_all`]); only if that
/// fails are they checked one by one, which finds the first bad transaction, so the refusal
/// is the same either way. Duplicates are looked for once every signature has passed.
fn verify_transactions(chain_id: u64, wire: &[WireTx]) -> ProposalResult<Vec<VerifiedTx>> {
    if wire.is_empty() || wire.len() > BLOCK_TXS_MAX {
        return Err(ProposalError::TransactionCount(wire.len()));
    }
    // The batch check says only whether all pass; one by one names the first that does not.
    let transactions = match transaction::verify_all(wire, chain_id) {
        Some(transactions) => transactions,
        None => wire
            .iter()
            .enumerate()
            .map(|(index, tx)| {
                tx.verify(chain_id)
                    .map_err(|reason| ProposalError::Transaction { index, reason })
            })
            .collect::<ProposalResult<Vec<_>>>()?,
    };
    let mut seen = BTreeSet::new();
    if let Some(duplicate) = transactions.iter().find(|tx| !seen.insert(tx.hash())) {
        return Err(ProposalError::DuplicateTransaction(duplicate.hash()));
    }
    Ok(transactions)
}

/// Every transaction was included and every root matches the header.
fn check_execution(
    header: &Header,
    transactions: &[VerifiedTx],
    execution: &Execution,
) -> ProposalResult<()> {
    if let Some((hash, reason)) = execution.excluded.first() {
        return Err(ProposalError::NotIncludable {
            hash: *hash,
            reason: *reason,
        });
    }
    debug_assert_eq!(execution.included.len(), transactions.len());
    let roots = [
        ("state_root", header.state_root, execution.state_root),
        (
            "transactions_root",
            header.transactions_root,
            execution.transactions_root,
        ),
        (
            "receipts_root",
            header.receipts_root,
            execution.receipts_root,
        ),
    ];
    for (field, got, expected) in roots {
        if got != expected {
            return Err(ProposalError::RootMismatch {
                field,
                got,
                expected,
            });
        }
    }
    Ok(())
}

/// A validator's decision on a proposal: checks it, asks the guard, signs.
///
/// Returns the vote and the guard to persist. The caller must persist the guard *before*
/// releasing the vote, or a crash could let it sign a different block at this height.
pub fn vote_on_proposal(
    context: &ChainContext,
    key: &SecretKey,
    guard: &Guard,
    proposal: &Proposal,
    now_ms: u64,
) -> ProposalResult<(Vote, Guard)> {
    let checked = check_proposal(context, proposal, now_ms)?;
    let height = proposal.header.height;
    guard
        .check(height, &checked.block_hash)
        .map_err(ProposalError::Guard)?;
    let vote = Vote::sign(
        key,
        &context.config.validators,
        context.config.chain_id,
        height,
        checked.block_hash,
    )
    .map_err(ProposalError::NotAValidator)?;
    let mut guard = *guard;
    guard.record(height, checked.block_hash);
    Ok((vote, guard))
}

#[cfg(test)]
mod tests;
