//! The front door's signature work for a submitted batch: every sender found, recovered or
//! checked against the key the client named.
//!
//! Recovery (ecrecover) is the one signature operation that cannot be batched: the key is
//! what it computes. A client that already knows its senders' keys (it signed with them) can
//! give them with the transactions, and then the front door checks the batch's signatures
//! against them together, as validators check a block's: about a quarter of the cost of
//! recovering each sender. The answer is the same either way: the exact check accepts a
//! signature for a key exactly when recovery would give that key.
//!
//! The batch check needs each signature's nonce point `R` in full, and the signature gives
//! only its x (`r`) and the parity of its y: a square root finds y, about 7 µs in wasm, a
//! third of the keyed check. A client may give that y too (a signer computed `R` to sign, and
//! one that did not keep it takes the root natively, faster than wasm). The front door then
//! checks that it is on the curve with that x and parity instead, which pins the same point.

use super::{SignedTransfer, TxRejection, TxResult, VerifiedTx, decode};
use crate::primitives::{Address, Hash, NonceY};
use crate::signature::{ExactCheck, KnownKeys, PublicKey, verify_exact_batch};

/// A transaction as a client submits it: the raw bytes and, if the client gave them, the
/// public key of its sender (any form [`PublicKey::parse`] takes) and the y of its
/// signature's nonce point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// The raw signed transaction.
    pub raw: Vec<u8>,
    /// The sender's public key as the client gave it, if it did.
    pub sender_key: Option<Vec<u8>>,
    /// The y coordinate of the signature's nonce point `R`, 32 bytes big-endian
    /// ([`crate::signature::RecoverableSignature::nonce_y`]), if the client gave it. It
    /// spares the front door a square root when the sender key is given too.
    pub nonce_y: Option<Vec<u8>>,
}

impl Submission {
    /// A raw transaction whose sender the front door recovers.
    pub fn raw(raw: Vec<u8>) -> Self {
        Self {
            raw,
            sender_key: None,
            nonce_y: None,
        }
    }

    /// A raw transaction with its sender's public key.
    pub fn with_key(raw: Vec<u8>, sender_key: Vec<u8>) -> Self {
        Self {
            raw,
            sender_key: Some(sender_key),
            nonce_y: None,
        }
    }
}

/// Decodes every submission and finds its sender, in order: each one's [`VerifiedTx`] or why
/// it was refused.
///
/// Without a key the sender is recovered ([`SignedTransfer::recover`]). The ones with a key
/// are checked against their keys together ([`verify_exact_batch`], with each signature's
/// nonce y as the client gave it or else worked out first, which the transaction then carries
/// on to the validators). If that batch fails, each of them is recovered and only the failing
/// ones are refused: a key that did not sign its transaction as
/// [`TxRejection::SignatureMismatch`], a nonce y that is not its signature's as
/// [`TxRejection::NonceYMismatch`], a signature no key made as recovery refuses it.
pub fn admit(submissions: &[Submission], chain_id: u64) -> Vec<TxResult<VerifiedTx>> {
    let mut known = KnownKeys::new();
    let found: Vec<Found> = submissions
        .iter()
        .map(|submission| Found::new(submission, chain_id, &mut known))
        .collect();
    let checks: Vec<ExactCheck<'_>> = found
        .iter()
        .filter_map(|one| match one {
            Found::Claimed(claimed) => Some(claimed.check()),
            Found::Done(_) => None,
        })
        .collect();
    let claims_verify = verify_exact_batch(&checks);
    drop(checks);
    found
        .into_iter()
        .map(|one| match one {
            Found::Done(result) => result,
            Found::Claimed(claimed) => claimed.settle(claims_verify),
        })
        .collect()
}

/// One submission after the work that needs no batch: decided, or a claim still to check.
enum Found {
    Done(TxResult<VerifiedTx>),
    Claimed(Claimed),
}

impl Found {
    /// Decodes, then recovers the sender or prepares the check of the key the client named
    /// (`known`: the keys the batch named before).
    fn new(submission: &Submission, chain_id: u64, known: &mut KnownKeys) -> Self {
        Self::try_new(submission, chain_id, known)
            .unwrap_or_else(|rejection| Self::Done(Err(rejection)))
    }

    /// [`Self::new`], refusing with `?` what is refused before any signature work.
    fn try_new(submission: &Submission, chain_id: u64, known: &mut KnownKeys) -> TxResult<Self> {
        let signed = decode(&submission.raw, chain_id)?;
        let nonce_y = submission
            .nonce_y
            .as_deref()
            .map(parse_nonce_y)
            .transpose()?;
        Ok(match submission.sender_key.as_deref() {
            None => Self::Done(signed.recover().and_then(|verified| {
                matches_given_nonce_y(&verified, nonce_y.as_ref())?;
                Ok(verified)
            })),
            Some(key) => Self::Claimed(Claimed::new(signed, key, nonce_y, known)?),
        })
    }
}

/// A nonce y as a client gave it: exactly 32 bytes.
fn parse_nonce_y(bytes: &[u8]) -> TxResult<NonceY> {
    <[u8; 32]>::try_from(bytes)
        .map(NonceY)
        .map_err(|_| TxRejection::InvalidNonceY {
            length: bytes.len(),
        })
}

/// Refuses a recovered transaction whose signature's nonce y is not the one the client gave.
fn matches_given_nonce_y(verified: &VerifiedTx, given: Option<&NonceY>) -> TxResult<()> {
    match given {
        Some(given) if verified.nonce_y.as_ref() != Some(given) => Err(TxRejection::NonceYMismatch),
        _ => Ok(()),
    }
}

/// A decoded transaction with the key its sender claims and what checking it needs.
struct Claimed {
    signed: SignedTransfer,
    public_key: PublicKey,
    sender: Address,
    signing_hash: Hash,
    nonce_y: NonceY,
}

impl Claimed {
    /// `nonce_y` is the client's, if it gave one: checked by the batch, not here.
    fn new(
        signed: SignedTransfer,
        key: &[u8],
        nonce_y: Option<NonceY>,
        known: &mut KnownKeys,
    ) -> TxResult<Self> {
        let (public_key, sender) = known
            .parse(key)
            .map_err(|_| TxRejection::InvalidSenderKey { length: key.len() })?;
        let nonce_y = match nonce_y {
            Some(given) => given,
            // A square root; it fails only for an `r` that is no point's x, which no key signs.
            None => signed.signature.nonce_y()?,
        };
        Ok(Self {
            signing_hash: signed.transfer.signing_hash(),
            signed,
            public_key,
            sender,
            nonce_y,
        })
    }

    fn check(&self) -> ExactCheck<'_> {
        ExactCheck {
            prehash: &self.signing_hash,
            signature: &self.signed.signature,
            public_key: &self.public_key,
            nonce_y: Some(&self.nonce_y),
        }
    }

    /// The claim's outcome once the batch of claims was checked: `claims_verify` says
    /// whether every claim of the batch passed.
    ///
    /// If not, this sender is recovered and compared with the claim (which is how a single
    /// exact check is done too: [`crate::signature::RecoverableSignature::verify_exact`]), so
    /// a batch spoilt on purpose by one wrong key costs the front door little more than an
    /// unkeyed one, and a signature no key made is refused for what it is, as without a key.
    fn settle(self, claims_verify: bool) -> TxResult<VerifiedTx> {
        if claims_verify {
            return Ok(self
                .signed
                .trusting_as(self.sender, self.public_key, Some(self.nonce_y)));
        }
        let recovered = self.signed.recover()?;
        if recovered.public_key != self.public_key {
            return Err(TxRejection::SignatureMismatch);
        }
        // The y the batch used: the client's, or the square root's, which recovery repeats.
        matches_given_nonce_y(&recovered, Some(&self.nonce_y))?;
        Ok(recovered)
    }
}
