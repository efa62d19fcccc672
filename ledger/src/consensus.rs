//! Validator sets, votes, quorum certificates, vote tallies and the anti-equivocation guard.
//!
//! These are the primitives of PBFT-lite commit: a block is committed once more than two thirds
//! of the validator set signed its header hash. The checks a validator runs on a full proposal
//! (re-execution, witness) build on these and live elsewhere.
//!
//! Canonical layouts (MessagePack arrays, see [`crate::codec`]):
//! - [`ValidatorSet`]: `[public_key: bin64, ...]`, sorted by the keys' addresses, no duplicates.
//!   Its hash, keccak256 of these bytes, goes into every header.
//! - [`RecoverableSignature`]: `[r: bin32, s: bin32, y_parity: bool]`.
//! - [`Vote`]: `[validator: uint, height: uint, block_hash: bin32, signature]`.
//! - [`QuorumCertificate`]: `[height: uint, block_hash: bin32, [[validator: uint, signature], ...]]`.
//! - [`Guard`]: `[nil]` before the first signature, else `[[height: uint, block_hash: bin32]]`.
//!
//! Votes sign [`vote_digest`], which binds the chain id and height as well as the block hash,
//! so a vote cannot be replayed on another chain or height.

use serde::{Deserialize, Serialize};

use crate::block::Header;
use crate::codec;
use crate::limits::VALIDATORS_MAX;
use crate::primitives::{Address, Hash, keccak256, keccak256_concat};
use crate::signature::{PublicKey, RecoverableSignature, SecretKey, SignatureError};

/// Domain separator of the vote digest; the version changes if the digest ever does.
const VOTE_DOMAIN: &[u8] = b"edgeledger/vote/v1";

/// Why a validator set, vote, certificate or signing request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsensusError {
    /// A validator set must have at least one member.
    #[error("a validator set needs at least one member")]
    EmptyValidatorSet,
    /// More validators than [`VALIDATORS_MAX`].
    #[error("validator set of {got} exceeds the limit of {limit}")]
    TooManyValidators {
        /// Members given.
        got: usize,
        /// Largest allowed set.
        limit: usize,
    },
    /// The same key appears twice in a validator set.
    #[error("validator {0} appears more than once")]
    DuplicateValidator(Address),
    /// An encoded validator set is not sorted by address.
    #[error("validator set is not sorted by address")]
    UnsortedValidatorSet,
    /// A validator's address is not its public key's address.
    #[error("validator address {got} does not match its public key's address {expected}")]
    ValidatorAddress {
        /// Address of the public key.
        expected: Address,
        /// Address given.
        got: Address,
    },
    /// The signing key does not belong to any member of the set.
    #[error("{0} is not a member of the validator set")]
    NotAMember(Address),
    /// A vote or certificate names a validator index outside the set.
    #[error("validator index {index} is outside the set of {count}")]
    UnknownValidator {
        /// Index named.
        index: u8,
        /// Members in the set.
        count: usize,
    },
    /// The same validator appears twice in a certificate.
    #[error("validator {0} appears more than once in the certificate")]
    DuplicateVote(u8),
    /// Certificate votes are not in increasing validator order.
    #[error("certificate votes are not sorted by validator index")]
    UnsortedVotes,
    /// Fewer distinct valid votes than the quorum.
    #[error("{got} votes, quorum is {quorum}")]
    BelowQuorum {
        /// Votes present.
        got: usize,
        /// Votes needed.
        quorum: usize,
    },
    /// A signature does not verify against the validator's key.
    #[error("signature of validator {validator} is invalid: {source}")]
    InvalidSignature {
        /// Index of the validator.
        validator: u8,
        /// What was wrong with it.
        source: SignatureError,
    },
    /// A vote or certificate is for another height or block than expected.
    #[error(
        "expected height {expected_height} block {expected_hash}, got height {got_height} block {got_hash}"
    )]
    WrongBlock {
        /// Height expected.
        expected_height: u64,
        /// Block hash expected.
        expected_hash: Hash,
        /// Height found.
        got_height: u64,
        /// Block hash found.
        got_hash: Hash,
    },
    /// The header belongs to another chain.
    #[error("header is for chain {got}, expected chain {expected}")]
    WrongChain {
        /// Chain id of the verifier.
        expected: u64,
        /// Chain id in the header.
        got: u64,
    },
    /// The header names another validator set than the one verifying it.
    #[error("header names validator set {expected}, certificate checked against {got}")]
    WrongValidatorSet {
        /// Hash in the header.
        expected: Hash,
        /// Hash of the set given.
        got: Hash,
    },
    /// Height 0 is genesis: nobody votes on it, and only the genesis certificate covers it.
    #[error("height 0 is genesis: it takes the genesis certificate and no votes")]
    Genesis,
    /// A different block was already signed at this height; signing would equivocate.
    #[error("equivocation refused at height {height}: signed {signed}, asked to sign {requested}")]
    Equivocation {
        /// The height.
        height: u64,
        /// The block already signed there.
        signed: Hash,
        /// The block asked for.
        requested: Hash,
    },
    /// The height is below the last height signed.
    #[error("height {height} is below the last signed height {last}")]
    Stale {
        /// The height asked for.
        height: u64,
        /// The last height signed.
        last: u64,
    },
}

/// Result alias for consensus.
pub type ConsensusResult<T> = Result<T, ConsensusError>;

/// One member of a validator set. `address` is always `public_key.address()`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(try_from = "ValidatorFields")]
pub struct Validator {
    /// The validator's Ethereum address.
    pub address: Address,
    /// The key its votes verify against.
    pub public_key: PublicKey,
}

/// A [`Validator`] as decoded, before its address is checked against its key.
#[derive(Deserialize)]
struct ValidatorFields {
    address: Address,
    public_key: PublicKey,
}

impl TryFrom<ValidatorFields> for Validator {
    type Error = ConsensusError;

    fn try_from(fields: ValidatorFields) -> ConsensusResult<Self> {
        let expected = fields.public_key.address();
        if fields.address != expected {
            return Err(ConsensusError::ValidatorAddress {
                expected,
                got: fields.address,
            });
        }
        Ok(Self::from_public_key(fields.public_key))
    }
}

impl Validator {
    /// The validator holding `public_key`.
    pub fn from_public_key(public_key: PublicKey) -> Self {
        Self {
            address: public_key.address(),
            public_key,
        }
    }
}

/// The validators of a chain: 1 to [`VALIDATORS_MAX`] members, sorted by address, no duplicates.
///
/// A member's index in this order is how votes name it.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(try_from = "Vec<PublicKey>", into = "Vec<PublicKey>")]
pub struct ValidatorSet {
    members: Vec<Validator>,
}

impl TryFrom<Vec<PublicKey>> for ValidatorSet {
    type Error = ConsensusError;

    /// Accepts only keys already in canonical order, so one set has one encoding.
    fn try_from(public_keys: Vec<PublicKey>) -> ConsensusResult<Self> {
        Self::check_count(public_keys.len())?;
        let members: Vec<Validator> = public_keys
            .into_iter()
            .map(Validator::from_public_key)
            .collect();
        for pair in members.windows(2) {
            if pair[0].address == pair[1].address {
                return Err(ConsensusError::DuplicateValidator(pair[0].address));
            }
            if pair[0].address > pair[1].address {
                return Err(ConsensusError::UnsortedValidatorSet);
            }
        }
        Ok(Self { members })
    }
}

impl From<ValidatorSet> for Vec<PublicKey> {
    fn from(set: ValidatorSet) -> Self {
        set.members
            .into_iter()
            .map(|member| member.public_key)
            .collect()
    }
}

impl ValidatorSet {
    /// A set of the holders of `public_keys`, in any order; refuses duplicates and bad sizes.
    pub fn new(public_keys: Vec<PublicKey>) -> ConsensusResult<Self> {
        Self::check_count(public_keys.len())?;
        let mut keyed: Vec<(Address, PublicKey)> = public_keys
            .into_iter()
            .map(|key| (key.address(), key))
            .collect();
        keyed.sort_by_key(|(address, _)| *address);
        Self::try_from(keyed.into_iter().map(|(_, key)| key).collect::<Vec<_>>())
    }

    /// Member count within `1..=VALIDATORS_MAX`.
    fn check_count(count: usize) -> ConsensusResult<()> {
        if count == 0 {
            return Err(ConsensusError::EmptyValidatorSet);
        }
        if count > VALIDATORS_MAX {
            return Err(ConsensusError::TooManyValidators {
                got: count,
                limit: VALIDATORS_MAX,
            });
        }
        Ok(())
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Always false: a set has at least one member. Present because `len` is.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Members in index order (sorted by address).
    pub fn members(&self) -> &[Validator] {
        &self.members
    }

    /// The member at `index`.
    pub fn member(&self, index: u8) -> ConsensusResult<&Validator> {
        self.members
            .get(usize::from(index))
            .ok_or(ConsensusError::UnknownValidator {
                index,
                count: self.len(),
            })
    }

    /// The index of the member with `address`.
    pub fn index_of(&self, address: &Address) -> Option<u8> {
        let index = self
            .members
            .binary_search_by_key(address, |member| member.address)
            .ok()?;
        // The set has at most VALIDATORS_MAX <= 255 members (asserted in limits).
        u8::try_from(index).ok()
    }

    /// Votes needed to commit: the smallest count strictly above two thirds, `floor(2n/3) + 1`.
    pub fn quorum(&self) -> usize {
        2 * self.len() / 3 + 1
    }

    /// Faulty members the set tolerates: `f = floor((n - 1) / 3)`.
    pub fn max_faulty(&self) -> usize {
        (self.len() - 1) / 3
    }

    /// keccak256 of the canonical encoding; headers carry it.
    pub fn hash(&self) -> Hash {
        keccak256(codec::encode(self))
    }
}

/// The digest a validator signs to vote for `block_hash` at `height` on chain `chain_id`:
/// `keccak256("edgeledger/vote/v1" ‖ chain_id (8 bytes BE) ‖ height (8 bytes BE) ‖ block_hash)`.
pub fn vote_digest(chain_id: u64, height: u64, block_hash: &Hash) -> Hash {
    keccak256_concat(&[
        VOTE_DOMAIN,
        &chain_id.to_be_bytes(),
        &height.to_be_bytes(),
        block_hash.as_bytes(),
    ])
}

/// One validator's signature on one block.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Vote {
    /// The voter's index in the validator set.
    pub validator: u8,
    /// Height of the block.
    pub height: u64,
    /// Hash of the block's header.
    pub block_hash: Hash,
    /// Signature over [`vote_digest`].
    pub signature: RecoverableSignature,
}

impl Vote {
    /// Signs a vote with `key`, which must belong to a member of `set`. Height 0 is refused.
    ///
    /// Callers must have asked their [`Guard`] first; this function does not remember anything.
    pub fn sign(
        key: &SecretKey,
        set: &ValidatorSet,
        chain_id: u64,
        height: u64,
        block_hash: Hash,
    ) -> ConsensusResult<Self> {
        if height == 0 {
            return Err(ConsensusError::Genesis);
        }
        let address = key.address();
        let validator = set
            .index_of(&address)
            .ok_or(ConsensusError::NotAMember(address))?;
        Ok(Self {
            validator,
            height,
            block_hash,
            signature: key.sign(&vote_digest(chain_id, height, &block_hash)),
        })
    }

    /// Checks the signature against the member's known key (cheaper than recovery).
    ///
    /// Verification ignores `y_parity`, so a vote with the parity flipped also verifies; nothing
    /// hashes votes or certificates, so this malleability has no effect on consensus.
    pub fn verify(&self, set: &ValidatorSet, chain_id: u64) -> ConsensusResult<()> {
        if self.height == 0 {
            return Err(ConsensusError::Genesis);
        }
        verify_signature(
            set,
            self.validator,
            &self.signature,
            &vote_digest(chain_id, self.height, &self.block_hash),
        )
    }
}

/// Checks that member `validator` of `set` signed `digest`.
fn verify_signature(
    set: &ValidatorSet,
    validator: u8,
    signature: &RecoverableSignature,
    digest: &Hash,
) -> ConsensusResult<()> {
    let member = set.member(validator)?;
    signature
        .verify(digest, &member.public_key)
        .map_err(|source| ConsensusError::InvalidSignature { validator, source })
}

/// Proof that more than two thirds of a validator set signed one block.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct QuorumCertificate {
    /// Height of the certified block.
    pub height: u64,
    /// Hash of the certified header.
    pub block_hash: Hash,
    /// `(validator index, signature)` pairs in strictly increasing index order.
    pub votes: Vec<(u8, RecoverableSignature)>,
}

impl QuorumCertificate {
    /// The certificate of the genesis block: height 0, no block hash, no votes. It verifies for
    /// a height-0 header only, which is trusted because it comes from the chain's configuration.
    pub fn genesis() -> Self {
        Self {
            height: 0,
            block_hash: Hash::ZERO,
            votes: Vec::new(),
        }
    }

    /// Builds from votes for (height, block_hash): dedups, sorts; errors if below quorum.
    ///
    /// Refuses votes for another block or from outside the set. Signatures are not checked
    /// here: [`VoteTally::add`] checks each vote as it arrives and [`Self::verify`] checks the
    /// result.
    pub fn assemble(
        set: &ValidatorSet,
        height: u64,
        block_hash: Hash,
        votes: &[Vote],
    ) -> ConsensusResult<Self> {
        if height == 0 {
            return Err(ConsensusError::Genesis);
        }
        let mut by_validator: Vec<Option<RecoverableSignature>> = vec![None; set.len()];
        for vote in votes {
            if vote.height != height || vote.block_hash != block_hash {
                return Err(ConsensusError::WrongBlock {
                    expected_height: height,
                    expected_hash: block_hash,
                    got_height: vote.height,
                    got_hash: vote.block_hash,
                });
            }
            set.member(vote.validator)?;
            by_validator[usize::from(vote.validator)].get_or_insert(vote.signature);
        }
        let certificate = Self::from_slots(height, block_hash, &by_validator);
        certificate.check_quorum(set)?;
        Ok(certificate)
    }

    /// A certificate from one optional signature per member index, in index order.
    fn from_slots(height: u64, block_hash: Hash, slots: &[Option<RecoverableSignature>]) -> Self {
        let votes = slots
            .iter()
            .zip(0u8..)
            .filter_map(|(slot, index)| slot.map(|signature| (index, signature)))
            .collect();
        Self {
            height,
            block_hash,
            votes,
        }
    }

    /// At least a quorum of votes.
    fn check_quorum(&self, set: &ValidatorSet) -> ConsensusResult<()> {
        if self.votes.len() < set.quorum() {
            return Err(ConsensusError::BelowQuorum {
                got: self.votes.len(),
                quorum: set.quorum(),
            });
        }
        Ok(())
    }

    /// Checks the certificate: more than 2/3 of the set, strictly increasing indices (no
    /// duplicates), members only, every signature valid, for exactly this header.
    ///
    /// Also requires the header to be on `chain_id` and to name `set` as its validator set.
    /// At height 0 only [`Self::genesis`] is accepted, for a header with a zero parent.
    pub fn verify(
        &self,
        set: &ValidatorSet,
        chain_id: u64,
        header: &Header,
    ) -> ConsensusResult<()> {
        check_header_context(set, chain_id, header)?;
        if header.height == 0 || self.height == 0 {
            return self.verify_genesis(header);
        }
        let block_hash = header.hash();
        if self.height != header.height || self.block_hash != block_hash {
            return Err(ConsensusError::WrongBlock {
                expected_height: header.height,
                expected_hash: block_hash,
                got_height: self.height,
                got_hash: self.block_hash,
            });
        }
        self.check_indices(set)?;
        self.check_quorum(set)?;
        let digest = vote_digest(chain_id, self.height, &self.block_hash);
        for (validator, signature) in &self.votes {
            verify_signature(set, *validator, signature, &digest)?;
        }
        Ok(())
    }

    /// The genesis certificate, for a genesis header.
    fn verify_genesis(&self, header: &Header) -> ConsensusResult<()> {
        if header.height == 0 && header.parent_hash == Hash::ZERO && *self == Self::genesis() {
            Ok(())
        } else {
            Err(ConsensusError::Genesis)
        }
    }

    /// Indices strictly increasing and all inside the set; checked before any signature so a
    /// forged certificate costs no elliptic-curve work.
    fn check_indices(&self, set: &ValidatorSet) -> ConsensusResult<()> {
        let mut previous: Option<u8> = None;
        for (validator, _) in &self.votes {
            set.member(*validator)?;
            match previous {
                Some(last) if last == *validator => {
                    return Err(ConsensusError::DuplicateVote(*validator));
                }
                Some(last) if last > *validator => return Err(ConsensusError::UnsortedVotes),
                _ => previous = Some(*validator),
            }
        }
        Ok(())
    }
}

/// The header is on `chain_id` and names `set`.
fn check_header_context(set: &ValidatorSet, chain_id: u64, header: &Header) -> ConsensusResult<()> {
    if header.chain_id != chain_id {
        return Err(ConsensusError::WrongChain {
            expected: chain_id,
            got: header.chain_id,
        });
    }
    let set_hash = set.hash();
    if header.validator_set_hash != set_hash {
        return Err(ConsensusError::WrongValidatorSet {
            expected: header.validator_set_hash,
            got: set_hash,
        });
    }
    Ok(())
}

/// What adding a vote to a [`VoteTally`] did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TallyStatus {
    /// This validator had already voted; nothing changed.
    Duplicate,
    /// Counted; the quorum is not reached yet.
    Pending {
        /// Distinct valid votes so far.
        votes: usize,
        /// Votes needed.
        quorum: usize,
    },
    /// Counted, and the tally holds a quorum: [`VoteTally::certificate`] is available.
    QuorumReached {
        /// Distinct valid votes so far.
        votes: usize,
    },
}

/// Vote collection for one proposal: add votes as they arrive (ignore duplicates, reject
/// non-members / wrong block / bad sig), tells when quorum is reached.
#[derive(Clone, Debug)]
pub struct VoteTally {
    set: ValidatorSet,
    chain_id: u64,
    height: u64,
    block_hash: Hash,
    /// One slot per member index.
    signatures: Vec<Option<RecoverableSignature>>,
    count: usize,
}

impl VoteTally {
    /// An empty tally for the block `block_hash` at `height`.
    pub fn new(set: &ValidatorSet, chain_id: u64, height: u64, block_hash: Hash) -> Self {
        Self {
            set: set.clone(),
            chain_id,
            height,
            block_hash,
            signatures: vec![None; set.len()],
            count: 0,
        }
    }

    /// Adds one vote after checking it is for this block, from a member, and validly signed.
    pub fn add(&mut self, vote: &Vote) -> ConsensusResult<TallyStatus> {
        if vote.height != self.height || vote.block_hash != self.block_hash {
            return Err(ConsensusError::WrongBlock {
                expected_height: self.height,
                expected_hash: self.block_hash,
                got_height: vote.height,
                got_hash: vote.block_hash,
            });
        }
        self.set.member(vote.validator)?;
        if self.signatures[usize::from(vote.validator)].is_some() {
            return Ok(TallyStatus::Duplicate);
        }
        vote.verify(&self.set, self.chain_id)?;
        self.signatures[usize::from(vote.validator)] = Some(vote.signature);
        self.count += 1;
        Ok(self.status())
    }

    /// Where the tally stands.
    pub fn status(&self) -> TallyStatus {
        if self.count >= self.set.quorum() {
            TallyStatus::QuorumReached { votes: self.count }
        } else {
            TallyStatus::Pending {
                votes: self.count,
                quorum: self.set.quorum(),
            }
        }
    }

    /// The certificate, once a quorum of valid votes is in; all votes received are included.
    pub fn certificate(&self) -> Option<QuorumCertificate> {
        let certificate =
            QuorumCertificate::from_slots(self.height, self.block_hash, &self.signatures);
        certificate.check_quorum(&self.set).ok()?;
        Some(certificate)
    }
}

/// What the guard allows.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum GuardDecision {
    /// A height above anything signed: sign, then [`Guard::record`] it.
    Sign,
    /// The same block at the last signed height: signing again is an idempotent retry.
    Resign,
}

/// The last height a validator signed and the block it signed there.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct SignedBlock {
    /// Height signed.
    pub height: u64,
    /// Block signed at that height.
    pub block_hash: Hash,
}

/// The validator's anti-equivocation record: the highest height signed and the block signed
/// there.
///
/// Persisted by the Guard Durable Object. The protocol is: [`Self::check`], persist
/// [`Self::record`]'s result, and only then release the signature, so a crash can at worst lose
/// a vote, never sign twice.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct Guard {
    /// Nothing before the first signature.
    last_signed: Option<SignedBlock>,
}

impl Guard {
    /// A guard that has signed nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// The last height and block signed, if any.
    pub fn last_signed(&self) -> Option<SignedBlock> {
        self.last_signed
    }

    /// Whether signing `block_hash` at `height` is allowed.
    pub fn check(&self, height: u64, block_hash: &Hash) -> ConsensusResult<GuardDecision> {
        let Some(last) = self.last_signed else {
            return Ok(GuardDecision::Sign);
        };
        if height > last.height {
            Ok(GuardDecision::Sign)
        } else if height < last.height {
            Err(ConsensusError::Stale {
                height,
                last: last.height,
            })
        } else if *block_hash == last.block_hash {
            Ok(GuardDecision::Resign)
        } else {
            Err(ConsensusError::Equivocation {
                height,
                signed: last.block_hash,
                requested: *block_hash,
            })
        }
    }

    /// Records that `block_hash` was signed at `height`.
    ///
    /// Call only after [`Self::check`] allowed it; a record the guard would refuse is ignored
    /// (the record never moves backwards or changes a signed height's block).
    pub fn record(&mut self, height: u64, block_hash: Hash) {
        let allowed = self.check(height, &block_hash);
        debug_assert!(allowed.is_ok(), "guard record without a passing check");
        if allowed.is_ok() {
            self.last_signed = Some(SignedBlock { height, block_hash });
        }
    }

    /// [`Self::check`] then [`Self::record`] in one step.
    pub fn authorize(&mut self, height: u64, block_hash: Hash) -> ConsensusResult<GuardDecision> {
        let decision = self.check(height, &block_hash)?;
        self.record(height, block_hash);
        Ok(decision)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::block::tests::sample_header;

    /// `count` deterministic validator keys.
    pub(crate) fn validator_keys(count: usize) -> Vec<SecretKey> {
        (1..=count)
            .map(|seed| SecretKey::from_bytes(&[seed as u8; 32]).expect("valid key"))
            .collect()
    }

    /// A set of `count` validators with their keys in set order.
    fn validators(count: usize) -> (Vec<SecretKey>, ValidatorSet) {
        let mut keys = validator_keys(count);
        let set =
            ValidatorSet::new(keys.iter().map(SecretKey::public_key).collect()).expect("valid set");
        keys.sort_by_key(SecretKey::address);
        (keys, set)
    }

    /// A certificate for `header` signed by the first `signers` members of `set`.
    pub(crate) fn certify(
        keys: &[SecretKey],
        set: &ValidatorSet,
        header: &Header,
        signers: usize,
    ) -> QuorumCertificate {
        let votes: Vec<Vote> = set.members()[..signers]
            .iter()
            .map(|member| {
                let key = keys
                    .iter()
                    .find(|key| key.address() == member.address)
                    .expect("key of member");
                Vote::sign(key, set, header.chain_id, header.height, header.hash())
                    .expect("member signs")
            })
            .collect();
        QuorumCertificate {
            height: header.height,
            block_hash: header.hash(),
            votes: votes
                .iter()
                .map(|vote| (vote.validator, vote.signature))
                .collect(),
        }
    }

    /// A header at height 5 naming `set`.
    fn header_for(set: &ValidatorSet) -> Header {
        Header {
            validator_set_hash: set.hash(),
            ..sample_header(5)
        }
    }

    #[test]
    fn quorum_and_fault_tolerance() {
        for (count, quorum, faulty) in [(1, 1, 0), (2, 2, 0), (3, 3, 0), (4, 3, 1), (7, 5, 2)] {
            let (_, set) = validators(count);
            assert_eq!(
                (set.quorum(), set.max_faulty()),
                (quorum, faulty),
                "n = {count}"
            );
        }
        let (_, set) = validators(64);
        assert_eq!((set.quorum(), set.max_faulty()), (43, 21));
    }

    #[test]
    fn validator_set_is_sorted_and_refuses_bad_input() {
        let (keys, set) = validators(7);
        assert!(
            set.members()
                .windows(2)
                .all(|pair| pair[0].address < pair[1].address)
        );
        for (index, key) in keys.iter().enumerate() {
            assert_eq!(set.index_of(&key.address()), Some(index as u8));
        }
        assert_eq!(set.index_of(&Address::ZERO), None);
        assert_eq!(
            ValidatorSet::new(Vec::new()),
            Err(ConsensusError::EmptyValidatorSet)
        );
        let key = keys[0].public_key();
        assert_eq!(
            ValidatorSet::new(vec![key, key]),
            Err(ConsensusError::DuplicateValidator(key.address()))
        );
        assert!(matches!(
            ValidatorSet::new(vec![key; VALIDATORS_MAX + 1]),
            Err(ConsensusError::TooManyValidators { .. })
        ));
    }

    #[test]
    fn validator_set_decoding_requires_canonical_order() {
        let (keys, set) = validators(3);
        let bytes = codec::encode(&set);
        assert_eq!(
            codec::decode_canonical::<ValidatorSet>(&bytes, crate::limits::VALIDATOR_SET_BYTES_MAX),
            Ok(set.clone())
        );
        let reversed: Vec<PublicKey> = keys.iter().rev().map(SecretKey::public_key).collect();
        assert!(codec::decode::<ValidatorSet>(&codec::encode(&reversed), 4096).is_err());
        assert!(
            codec::decode::<ValidatorSet>(&codec::encode(&Vec::<PublicKey>::new()), 64).is_err()
        );
    }

    #[test]
    fn validator_decoding_checks_the_address() {
        let key = validator_keys(1)[0].public_key();
        let good = Validator::from_public_key(key);
        assert_eq!(
            codec::decode::<Validator>(&codec::encode(&good), 256),
            Ok(good)
        );
        let bad = Validator {
            address: Address::ZERO,
            public_key: key,
        };
        assert!(codec::decode::<Validator>(&codec::encode(&bad), 256).is_err());
    }

    #[test]
    fn vote_digest_binds_every_field() {
        let hash = keccak256(b"block");
        let digest = vote_digest(1, 2, &hash);
        assert_ne!(digest, vote_digest(2, 2, &hash));
        assert_ne!(digest, vote_digest(1, 3, &hash));
        assert_ne!(digest, vote_digest(1, 2, &Hash::ZERO));
        let expected = keccak256(
            [
                b"edgeledger/vote/v1".as_slice(),
                &1u64.to_be_bytes(),
                &2u64.to_be_bytes(),
                hash.as_bytes(),
            ]
            .concat(),
        );
        assert_eq!(digest, expected);
    }

    #[test]
    fn vote_sign_and_verify() {
        let (keys, set) = validators(4);
        let hash = keccak256(b"block");
        let vote = Vote::sign(&keys[2], &set, 9, 3, hash).expect("member");
        assert_eq!(vote.validator, 2);
        assert_eq!(vote.verify(&set, 9), Ok(()));
        assert!(matches!(
            vote.verify(&set, 10),
            Err(ConsensusError::InvalidSignature { validator: 2, .. })
        ));
        let moved = Vote {
            validator: 1,
            ..vote
        };
        assert!(matches!(
            moved.verify(&set, 9),
            Err(ConsensusError::InvalidSignature { .. })
        ));
        let outside = Vote {
            validator: 4,
            ..vote
        };
        assert_eq!(
            outside.verify(&set, 9),
            Err(ConsensusError::UnknownValidator { index: 4, count: 4 })
        );
        let stranger = SecretKey::from_bytes(&[99; 32]).expect("key");
        assert_eq!(
            Vote::sign(&stranger, &set, 9, 3, hash),
            Err(ConsensusError::NotAMember(stranger.address()))
        );
        assert_eq!(
            Vote::sign(&keys[0], &set, 9, 0, hash),
            Err(ConsensusError::Genesis)
        );
    }

    #[test]
    fn certificate_with_exactly_quorum_verifies_and_one_less_does_not() {
        for count in [1, 4, 7] {
            let (keys, set) = validators(count);
            let header = header_for(&set);
            let exact = certify(&keys, &set, &header, set.quorum());
            assert_eq!(
                exact.verify(&set, header.chain_id, &header),
                Ok(()),
                "n = {count}"
            );
            let short = certify(&keys, &set, &header, set.quorum() - 1);
            assert_eq!(
                short.verify(&set, header.chain_id, &header),
                Err(ConsensusError::BelowQuorum {
                    got: set.quorum() - 1,
                    quorum: set.quorum()
                })
            );
            let all = certify(&keys, &set, &header, count);
            assert_eq!(all.verify(&set, header.chain_id, &header), Ok(()));
        }
    }

    #[test]
    fn certificate_index_faults_are_refused() {
        let (keys, set) = validators(7);
        let header = header_for(&set);
        let chain = header.chain_id;
        let good = certify(&keys, &set, &header, 6);

        let mut duplicate = good.clone();
        duplicate.votes[1] = duplicate.votes[0];
        assert_eq!(
            duplicate.verify(&set, chain, &header),
            Err(ConsensusError::DuplicateVote(0))
        );

        let mut unsorted = good.clone();
        unsorted.votes.swap(0, 1);
        assert_eq!(
            unsorted.verify(&set, chain, &header),
            Err(ConsensusError::UnsortedVotes)
        );

        let mut outsider = good.clone();
        outsider.votes.push((7, good.votes[0].1));
        assert_eq!(
            outsider.verify(&set, chain, &header),
            Err(ConsensusError::UnknownValidator { index: 7, count: 7 })
        );

        let mut bad_signature = good.clone();
        bad_signature.votes[3].1 = good.votes[4].1;
        assert!(matches!(
            bad_signature.verify(&set, chain, &header),
            Err(ConsensusError::InvalidSignature { validator: 3, .. })
        ));
    }

    #[test]
    fn certificate_for_another_block_height_chain_or_set_is_refused() {
        let (keys, set) = validators(4);
        let header = header_for(&set);
        let chain = header.chain_id;
        let certificate = certify(&keys, &set, &header, 3);

        let other_block = Header {
            timestamp_ms: 1,
            ..header
        };
        assert!(matches!(
            certificate.verify(&set, chain, &other_block),
            Err(ConsensusError::WrongBlock { .. })
        ));
        // Votes for another block, relabelled with this header's hash: signatures fail.
        let mut relabelled = certify(&keys, &set, &other_block, 3);
        relabelled.block_hash = header.hash();
        assert!(matches!(
            relabelled.verify(&set, chain, &header),
            Err(ConsensusError::InvalidSignature { .. })
        ));
        // Votes for another height, relabelled: signatures fail.
        let mut other_height = certify(
            &keys,
            &set,
            &Header {
                height: 6,
                ..header
            },
            3,
        );
        other_height.height = 5;
        other_height.block_hash = header.hash();
        assert!(matches!(
            other_height.verify(&set, chain, &header),
            Err(ConsensusError::InvalidSignature { .. })
        ));
        assert!(matches!(
            certificate.verify(&set, chain + 1, &header),
            Err(ConsensusError::WrongChain { .. })
        ));
        let (_, other_set) = validators(7);
        assert!(matches!(
            certificate.verify(&other_set, chain, &header),
            Err(ConsensusError::WrongValidatorSet { .. })
        ));
    }

    #[test]
    fn genesis_certificate_only_covers_height_zero() {
        let (keys, set) = validators(4);
        let genesis_header = Header {
            height: 0,
            parent_hash: Hash::ZERO,
            ..header_for(&set)
        };
        let chain = genesis_header.chain_id;
        let genesis = QuorumCertificate::genesis();
        assert_eq!(genesis.verify(&set, chain, &genesis_header), Ok(()));
        assert_eq!(
            genesis.verify(&set, chain, &header_for(&set)),
            Err(ConsensusError::Genesis)
        );
        let with_parent = Header {
            parent_hash: keccak256(b"x"),
            ..genesis_header
        };
        assert_eq!(
            genesis.verify(&set, chain, &with_parent),
            Err(ConsensusError::Genesis)
        );
        let mut signed_genesis = genesis.clone();
        signed_genesis.votes = certify(&keys, &set, &header_for(&set), 3).votes;
        assert_eq!(
            signed_genesis.verify(&set, chain, &genesis_header),
            Err(ConsensusError::Genesis)
        );
    }

    #[test]
    fn assemble_dedups_sorts_and_requires_quorum() {
        let (keys, set) = validators(4);
        let header = header_for(&set);
        let hash = header.hash();
        let vote = |index: usize| {
            Vote::sign(&keys[index], &set, header.chain_id, 5, hash).expect("member")
        };
        let votes = [vote(3), vote(1), vote(3), vote(0)];
        let certificate = QuorumCertificate::assemble(&set, 5, hash, &votes).expect("quorum");
        let indices: Vec<u8> = certificate.votes.iter().map(|(index, _)| *index).collect();
        assert_eq!(indices, [0, 1, 3]);
        assert_eq!(certificate.verify(&set, header.chain_id, &header), Ok(()));
        assert_eq!(
            QuorumCertificate::assemble(&set, 5, hash, &[vote(1), vote(1), vote(2)]),
            Err(ConsensusError::BelowQuorum { got: 2, quorum: 3 })
        );
        assert!(matches!(
            QuorumCertificate::assemble(&set, 6, hash, &votes),
            Err(ConsensusError::WrongBlock { .. })
        ));
        let outsider = Vote {
            validator: 9,
            ..vote(0)
        };
        assert!(matches!(
            QuorumCertificate::assemble(&set, 5, hash, &[outsider]),
            Err(ConsensusError::UnknownValidator { index: 9, .. })
        ));
    }

    #[test]
    fn tally_counts_distinct_valid_votes() {
        let (keys, set) = validators(4);
        let header = header_for(&set);
        let (chain, hash) = (header.chain_id, header.hash());
        let mut tally = VoteTally::new(&set, chain, 5, hash);
        let vote = |index: usize| Vote::sign(&keys[index], &set, chain, 5, hash).expect("member");
        assert_eq!(
            tally.add(&vote(0)),
            Ok(TallyStatus::Pending {
                votes: 1,
                quorum: 3
            })
        );
        assert_eq!(tally.add(&vote(0)), Ok(TallyStatus::Duplicate));
        assert!(tally.certificate().is_none());
        let wrong = Vote::sign(&keys[1], &set, chain, 5, Hash::ZERO).expect("member");
        assert!(matches!(
            tally.add(&wrong),
            Err(ConsensusError::WrongBlock { .. })
        ));
        let forged = Vote {
            signature: vote(2).signature,
            ..vote(1)
        };
        assert!(matches!(
            tally.add(&forged),
            Err(ConsensusError::InvalidSignature { .. })
        ));
        let outsider = Vote {
            validator: 4,
            ..vote(1)
        };
        assert!(matches!(
            tally.add(&outsider),
            Err(ConsensusError::UnknownValidator { .. })
        ));
        assert_eq!(
            tally.add(&vote(2)),
            Ok(TallyStatus::Pending {
                votes: 2,
                quorum: 3
            })
        );
        assert_eq!(
            tally.add(&vote(1)),
            Ok(TallyStatus::QuorumReached { votes: 3 })
        );
        let certificate = tally.certificate().expect("quorum");
        assert_eq!(certificate.verify(&set, chain, &header), Ok(()));
        assert_eq!(
            tally.add(&vote(3)),
            Ok(TallyStatus::QuorumReached { votes: 4 })
        );
        assert_eq!(tally.certificate().expect("quorum").votes.len(), 4);
    }

    #[test]
    fn guard_refuses_equivocation_and_stale_heights() {
        let (first, second) = (keccak256(b"a"), keccak256(b"b"));
        let mut guard = Guard::new();
        assert_eq!(guard.check(5, &first), Ok(GuardDecision::Sign));
        guard.record(5, first);
        assert_eq!(guard.check(5, &first), Ok(GuardDecision::Resign));
        assert_eq!(
            guard.check(5, &second),
            Err(ConsensusError::Equivocation {
                height: 5,
                signed: first,
                requested: second
            })
        );
        assert_eq!(
            guard.check(4, &first),
            Err(ConsensusError::Stale { height: 4, last: 5 })
        );
        assert_eq!(guard.authorize(6, second), Ok(GuardDecision::Sign));
        assert_eq!(
            guard.last_signed(),
            Some(SignedBlock {
                height: 6,
                block_hash: second
            })
        );
        assert_eq!(guard.authorize(6, second), Ok(GuardDecision::Resign));
        assert!(guard.authorize(6, first).is_err());
        assert_eq!(
            guard.last_signed().map(|last| last.block_hash),
            Some(second)
        );
    }

    #[cfg(not(target_arch = "wasm32"))]
    mod properties {
        use super::*;
        use crate::limits::{
            GUARD_BYTES_MAX, QUORUM_CERTIFICATE_BYTES_MAX, VALIDATOR_SET_BYTES_MAX, VOTE_BYTES_MAX,
        };
        use proptest::prelude::*;

        fn any_signature() -> impl Strategy<Value = RecoverableSignature> {
            (any::<[u8; 32]>(), any::<[u8; 32]>(), any::<bool>()).prop_map(|(r, s, y_parity)| {
                RecoverableSignature {
                    r: Hash(r),
                    s: Hash(s),
                    y_parity,
                }
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            #[test]
            fn vote_round_trips(validator in any::<u8>(), height in any::<u64>(), hash in any::<[u8; 32]>(), signature in any_signature()) {
                let vote = Vote { validator, height, block_hash: Hash(hash), signature };
                let bytes = codec::encode(&vote);
                prop_assert!(bytes.len() <= VOTE_BYTES_MAX);
                prop_assert_eq!(codec::decode_canonical(&bytes, VOTE_BYTES_MAX), Ok(vote));
            }

            #[test]
            fn certificate_round_trips(
                height in any::<u64>(), hash in any::<[u8; 32]>(),
                votes in proptest::collection::vec((any::<u8>(), any_signature()), 0..=VALIDATORS_MAX),
            ) {
                let certificate = QuorumCertificate { height, block_hash: Hash(hash), votes };
                let bytes = codec::encode(&certificate);
                prop_assert!(bytes.len() <= QUORUM_CERTIFICATE_BYTES_MAX);
                prop_assert_eq!(codec::decode_canonical(&bytes, QUORUM_CERTIFICATE_BYTES_MAX), Ok(certificate));
            }

            #[test]
            fn validator_set_round_trips(seeds in proptest::collection::btree_set(1u8..=200, 1..8)) {
                let keys: Vec<PublicKey> = seeds
                    .iter()
                    .map(|seed| SecretKey::from_bytes(&[*seed; 32]).expect("key").public_key())
                    .collect();
                let set = ValidatorSet::new(keys).expect("valid");
                let bytes = codec::encode(&set);
                prop_assert!(bytes.len() <= VALIDATOR_SET_BYTES_MAX);
                let decoded: ValidatorSet = codec::decode_canonical(&bytes, VALIDATOR_SET_BYTES_MAX).expect("decodes");
                prop_assert_eq!(decoded.hash(), set.hash());
                prop_assert_eq!(decoded, set);
            }

            #[test]
            fn guard_round_trips(signed in proptest::option::of((any::<u64>(), any::<[u8; 32]>()))) {
                let mut guard = Guard::new();
                if let Some((height, hash)) = signed {
                    guard.record(height, Hash(hash));
                }
                let bytes = codec::encode(&guard);
                prop_assert!(bytes.len() <= GUARD_BYTES_MAX);
                prop_assert_eq!(codec::decode_canonical(&bytes, GUARD_BYTES_MAX), Ok(guard));
            }
        }
    }
}
