//! `wire_message`: the MessagePack bodies the Durable Objects and Workers send each other
//! (`ledger::wire::decode`), and the canonical encodings that are hashed or signed.
//!
//! The first byte picks the message type ([`Kind`]), the rest is the body: one target covers
//! every type without the fuzzer having to find inputs that are several at once.

use std::fmt::Debug;

use ledger::api::ErrorBody;
use ledger::archive;
use ledger::block::{CertifiedBlock, Header};
use ledger::codec;
use ledger::consensus::Vote;
use ledger::execution::WriteSet;
use ledger::limits::{GUARD_BYTES_MAX, PROPOSAL_BYTES_MAX, REQUEST_BYTES_MAX, VOTE_BYTES_MAX};
use ledger::primitives::Address;
use ledger::proposal::Proposal;
use ledger::shard::{
    APPLY_THEN_WITNESS_BYTES_MAX, ApplyThenWitnessRequest, WITNESS_REQUEST_BYTES_MAX,
    WRITE_SET_BYTES_MAX, WitnessRequest,
};
use ledger::wire::{
    self, ACCOUNTS_ANSWER_BYTES_MAX, ACCOUNTS_REQUEST_BYTES_MAX, GuardRequest, LeaseRequest,
    RestoreRequest, ShardAccounts, ShardRestoreStep, SnapshotPageRequest, SubmitRequest,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{CHAIN_ID, corpus};

/// The message types, by the input's first byte (modulo their number).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `SubmitRequest`: the front door to the `Sequencer`.
    Submit,
    /// `GuardRequest`: a validator to its guard.
    Guard,
    /// `LeaseRequest`: the archiver to the `Sequencer`.
    Lease,
    /// `RestoreRequest`: the archiver to the `Sequencer`.
    Restore,
    /// `Header`, canonical: what the block hash commits to.
    Header,
    /// `Vote`, canonical: a validator's signature on a block.
    Vote,
    /// `CertifiedBlock`: hot storage and the KV archive.
    CertifiedBlock,
    /// `Proposal`: the `Sequencer` to every validator.
    Proposal,
    /// `WriteSet`: the `Sequencer` to a shard.
    WriteSet,
    /// `WitnessRequest` and `ApplyThenWitnessRequest`: the `Sequencer` to a shard.
    WitnessRequest,
    /// `Vec<Address>`, the request of `ShardAccounts`, and `ShardAccounts`, its answer.
    ShardAccounts,
    /// `ShardRestoreStep` and `SnapshotPageRequest`: the archiver to a shard.
    ShardRestore,
    /// `ErrorBody`: any service's error answer.
    Error,
}

impl Kind {
    /// Every kind, in selector order.
    pub const ALL: [Self; 13] = [
        Self::Submit,
        Self::Guard,
        Self::Lease,
        Self::Restore,
        Self::Header,
        Self::Vote,
        Self::CertifiedBlock,
        Self::Proposal,
        Self::WriteSet,
        Self::WitnessRequest,
        Self::ShardAccounts,
        Self::ShardRestore,
        Self::Error,
    ];

    /// The selector byte of this kind.
    pub fn selector(self) -> u8 {
        Self::ALL.iter().position(|&kind| kind == self).unwrap_or(0) as u8
    }
}

/// Decodes the body `data[1..]` as the type `data[0]` selects.
pub fn check(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    match Kind::ALL[usize::from(selector) % Kind::ALL.len()] {
        Kind::Submit => check_submit(body),
        Kind::Guard => check_round_trip::<GuardRequest>(body, 256),
        Kind::Lease => check_round_trip::<LeaseRequest>(body, 64),
        Kind::Restore => check_round_trip::<RestoreRequest>(body, REQUEST_BYTES_MAX),
        Kind::Header => check_header(body),
        Kind::Vote => check_vote(body),
        Kind::CertifiedBlock => check_block(body),
        Kind::Proposal => check_round_trip::<Proposal>(body, PROPOSAL_BYTES_MAX),
        Kind::WriteSet => check_round_trip::<WriteSet>(body, WRITE_SET_BYTES_MAX),
        Kind::WitnessRequest => {
            check_round_trip::<WitnessRequest>(body, WITNESS_REQUEST_BYTES_MAX);
            check_round_trip::<ApplyThenWitnessRequest>(body, APPLY_THEN_WITNESS_BYTES_MAX);
        }
        Kind::ShardAccounts => {
            check_round_trip::<Vec<Address>>(body, ACCOUNTS_REQUEST_BYTES_MAX);
            check_round_trip::<ShardAccounts>(body, ACCOUNTS_ANSWER_BYTES_MAX);
        }
        Kind::ShardRestore => {
            check_round_trip::<ShardRestoreStep>(body, REQUEST_BYTES_MAX);
            check_round_trip::<SnapshotPageRequest>(body, REQUEST_BYTES_MAX);
        }
        Kind::Error => check_error(body),
    }
}

/// [`round_trip`], for types nothing more is checked of.
fn check_round_trip<T>(body: &[u8], limit: usize)
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    round_trip::<T>(body, limit);
}

/// Decodes `body` as the receiving service does; what decodes encodes to bytes that decode to
/// the same value.
fn round_trip<T>(body: &[u8], limit: usize) -> Option<T>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let value: T = match wire::decode(body, limit) {
        Ok(value) => value,
        Err(error) => {
            assert!(matches!(error.status, 400 | 413), "status {}", error.status);
            return None;
        }
    };
    let encoded = wire::encode(&value);
    assert_eq!(wire::decode::<T>(&encoded, usize::MAX).as_ref(), Ok(&value));
    Some(value)
}

/// What the `Sequencer` does with a submission: reload each transaction trusting its key.
fn check_submit(body: &[u8]) {
    let Some(request) = round_trip::<SubmitRequest>(body, 2 * REQUEST_BYTES_MAX) else {
        return;
    };
    for wire in &request.transactions {
        match wire.decode_trusted(CHAIN_ID) {
            Ok(verified) => assert_eq!(verified.tx.raw(), &wire.raw[..]),
            Err(rejection) => crate::transaction::check_rejection(&rejection),
        }
    }
}

/// A header has one encoding: the bytes that decode are the bytes it encodes to.
fn check_header(body: &[u8]) {
    if let Ok(header) = Header::decode(body) {
        assert!(
            header.encode() == body,
            "a header decoded from a non-canonical encoding"
        );
        assert_eq!(header.hash(), ledger::keccak256(body));
    }
}

/// A vote has one encoding, and it verifies (or not) against the seeds' validator set without
/// panicking.
fn check_vote(body: &[u8]) {
    let Ok(vote) = codec::decode_canonical::<Vote>(body, VOTE_BYTES_MAX) else {
        return;
    };
    assert!(codec::encode(&vote) == body);
    let _ = vote.verify(&corpus::chain_config().validators, CHAIN_ID);
    let _ = codec::decode_canonical::<Vote>(body, GUARD_BYTES_MAX);
}

/// A block that decodes is consistent, re-encodes to itself, and reads back from the archive.
fn check_block(body: &[u8]) {
    let Ok(block) = CertifiedBlock::decode(body) else {
        return;
    };
    assert_eq!(block.receipts.len(), block.transactions.len());
    let encoded = block.encode();
    assert_eq!(CertifiedBlock::decode(&encoded).as_ref(), Ok(&block));
    let hash = block.hash();
    let archived = archive::decode_archived_block(body, block.header.height, Some(&hash));
    assert_eq!(archived.as_ref(), Ok(&block));
    let answer = archive::archived_block_answer(&block);
    assert_eq!(answer.transactions, block.tx_hashes());
    for (position, tx_hash) in block.tx_hashes().iter().enumerate() {
        let position = u32::try_from(position).expect("at most BLOCK_TXS_MAX transactions");
        assert!(archive::archived_tx_answer(&block, position, tx_hash).is_some());
    }
    ledger::rpc::block_object(&block, true, corpus::chain_config());
}

/// An error answer from another service always becomes an error to pass on.
fn check_error(body: &[u8]) {
    for status in [400, 500, 503] {
        let answer = wire::decode_error(status, body);
        assert_eq!(answer.status, status);
    }
    check_round_trip::<ErrorBody>(body, REQUEST_BYTES_MAX);
}
