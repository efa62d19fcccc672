//! The front door's signature work for a submitted batch: every sender found, recovered or
//! checked against the key the client named.
//!
//! Recovery (ecrecover) is the one signature operation that cannot be batched: the key is
//! what it computes. A client that already knows its senders' keys (it signed with them) can
//! give them with the transactions, and then the front door checks the batch's signatures
//! against them together, as validators check a block's: about a quarter of the cost of
//! recovering each sender. The answer is the same either way: the exact check accepts a
//! signature for a key exactly when recovery would give that key.

use super::{SignedTransfer, TxRejection, TxResult, VerifiedTx, decode};
use crate::primitives::{Hash, NonceY};
use crate::signature::{ExactCheck, PublicKey, verify_exact_batch};

/// A transaction as a client submits it: the raw bytes and, if the client gave it, the public
/// key of its sender (any form [`PublicKey::parse`] takes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// The raw signed transaction.
    pub raw: Vec<u8>,
    /// The sender's public key as the client gave it, if it did.
    pub sender_key: Option<Vec<u8>>,
}

impl Submission {
    /// A raw transaction whose sender the front door recovers.
    pub fn raw(raw: Vec<u8>) -> Self {
        Self {
            raw,
            sender_key: None,
        }
    }
}

/// Decodes every submission and finds its sender, in order: each one's [`VerifiedTx`] or why
/// it was refused.
///
/// Without a key the sender is recovered ([`SignedTransfer::recover`]). The ones with a key
/// are checked against their keys together ([`verify_exact_batch`], with each signature's
/// nonce y worked out first, which the transaction then carries on to the validators). If that
/// batch fails, each of them is recovered and only the failing ones are refused: a key that
/// did not sign its transaction as [`TxRejection::SignatureMismatch`], a signature no key made
/// as recovery refuses it.
pub fn admit(submissions: &[Submission], chain_id: u64) -> Vec<TxResult<VerifiedTx>> {
    let found: Vec<Found> = submissions
        .iter()
        .map(|submission| Found::new(submission, chain_id))
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
    /// Decodes, then recovers the sender or prepares the check of the key the client named.
    fn new(submission: &Submission, chain_id: u64) -> Self {
        let signed = match decode(&submission.raw, chain_id) {
            Ok(signed) => signed,
            Err(rejection) => return Self::Done(Err(rejection)),
        };
        match submission.sender_key.as_deref() {
            None => Self::Done(signed.recover()),
            Some(key) => match Claimed::new(signed, key) {
                Ok(claimed) => Self::Claimed(claimed),
                Err(rejection) => Self::Done(Err(rejection)),
            },
        }
    }
}

/// A decoded transaction with the key its sender claims and what checking it needs.
struct Claimed {
    signed: SignedTransfer,
    public_key: PublicKey,
    signing_hash: Hash,
    nonce_y: NonceY,
}

impl Claimed {
    fn new(signed: SignedTransfer, key: &[u8]) -> TxResult<Self> {
        let public_key = PublicKey::parse(key)
            .map_err(|_| TxRejection::InvalidSenderKey { length: key.len() })?;
        // A square root; it fails only for an `r` that is no point's x, which no key signs.
        let nonce_y = signed.signature.nonce_y()?;
        Ok(Self {
            signing_hash: signed.transfer.signing_hash(),
            signed,
            public_key,
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
    /// If not, this sender is recovered and compared with the claim, rather than checked
    /// against it: recovery costs about two thirds of a single exact check in wasm, so a batch
    /// spoilt on purpose by one wrong key costs the front door little more than an unkeyed
    /// one, and a signature no key made is refused for what it is, as without a key.
    fn settle(self, claims_verify: bool) -> TxResult<VerifiedTx> {
        if claims_verify {
            return Ok(self.signed.trusting(self.public_key, Some(self.nonce_y)));
        }
        let recovered = self.signed.recover()?;
        if recovered.public_key == self.public_key {
            Ok(recovered)
        } else {
            Err(TxRejection::SignatureMismatch)
        }
    }
}
