//! The fork detector: every vote any validator releases and every certificate anyone shows
//! are checked against the validator set, and any quorum of valid signatures counts as a
//! certificate, whoever gathered it. Two certified blocks at one height is a fork.

use std::collections::BTreeMap;

use ledger::Hash;
use ledger::block::Header;
use ledger::codec;
use ledger::consensus::{QuorumCertificate, ValidatorSet, Vote};

use crate::report::{Violation, ensure};

/// Bytes of an encoded vote, as the sequencer reads a validator's answer.
pub(crate) const VOTE_BYTES_MAX: usize = 256;

/// Everything signed and certified so far.
#[derive(Debug)]
pub(crate) struct Certificates {
    validators: ValidatorSet,
    chain_id: u64,
    honest: Vec<bool>,
    /// Headers whose hashes were signed, so their certificates can be verified in full.
    headers: BTreeMap<Hash, Header>,
    /// Valid votes by height and block, keyed by validator index.
    votes: BTreeMap<(u64, Hash), BTreeMap<u8, Vote>>,
    /// The block each honest validator signed at each height.
    signed: BTreeMap<(u8, u64), Hash>,
    /// The block certified at each height.
    certified: BTreeMap<u64, Hash>,
}

impl Certificates {
    /// Nothing seen yet; `honest` has one entry per validator index.
    pub(crate) fn new(validators: ValidatorSet, chain_id: u64, honest: Vec<bool>) -> Self {
        Self {
            validators,
            chain_id,
            honest,
            headers: BTreeMap::new(),
            votes: BTreeMap::new(),
            signed: BTreeMap::new(),
            certified: BTreeMap::new(),
        }
    }

    /// A header someone asked validators to sign.
    pub(crate) fn header_seen(&mut self, header: Header) {
        self.headers.insert(header.hash(), header);
    }

    /// Bytes a validator released as its vote: garbage is ignored, a valid vote is counted,
    /// and a quorum of them is a certificate.
    pub(crate) fn vote_released(&mut self, bytes: &[u8]) -> Result<(), Violation> {
        let Ok(vote) = codec::decode::<Vote>(bytes, VOTE_BYTES_MAX) else {
            return Ok(());
        };
        if vote.verify(&self.validators, self.chain_id).is_err() {
            return Ok(());
        }
        if self.honest[usize::from(vote.validator)] {
            let signed = *self
                .signed
                .entry((vote.validator, vote.height))
                .or_insert(vote.block_hash);
            ensure!(
                signed == vote.block_hash,
                HonestEquivocation,
                "honest validator {} signed {signed} and {} at height {}",
                vote.validator,
                vote.block_hash,
                vote.height
            );
        }
        let votes = self
            .votes
            .entry((vote.height, vote.block_hash))
            .or_default();
        votes.insert(vote.validator, vote);
        if votes.len() < self.validators.quorum() {
            return Ok(());
        }
        let votes: Vec<Vote> = votes.values().copied().collect();
        let certificate =
            QuorumCertificate::assemble(&self.validators, vote.height, vote.block_hash, &votes)
                .map_err(|error| Violation {
                    invariant: crate::report::Invariant::InvalidCertificate,
                    detail: format!("a quorum of valid votes does not assemble: {error}"),
                })?;
        if let Some(header) = self.headers.get(&vote.block_hash).copied() {
            self.certificate_seen(&header, &certificate)?;
        }
        self.certify(vote.height, vote.block_hash)
    }

    /// A certificate someone showed (a commit, a proposal's parent): it must verify.
    pub(crate) fn certificate_seen(
        &mut self,
        header: &Header,
        certificate: &QuorumCertificate,
    ) -> Result<(), Violation> {
        let verified = certificate.verify(&self.validators, self.chain_id, header);
        ensure!(
            verified.is_ok(),
            InvalidCertificate,
            "certificate for height {} block {}: {verified:?}",
            header.height,
            header.hash()
        );
        if header.height == 0 {
            return Ok(());
        }
        self.certify(header.height, header.hash())
    }

    fn certify(&mut self, height: u64, block_hash: Hash) -> Result<(), Violation> {
        let first = *self.certified.entry(height).or_insert(block_hash);
        ensure!(
            first == block_hash,
            Fork,
            "blocks {first} and {block_hash} are both certified at height {height}"
        );
        Ok(())
    }
}
