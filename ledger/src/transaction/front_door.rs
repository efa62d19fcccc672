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
    let mut results: Vec<Option<TxResult<VerifiedTx>>> = Vec::with_capacity(submissions.len());
    let mut claimed = Vec::new();
    for (index, submission) in submissions.iter().enumerate() {
        let decoded = decode(&submission.raw, chain_id);
        match (decoded, submission.sender_key.as_deref()) {
            (Err(rejection), _) => results.push(Some(Err(rejection))),
            (Ok(signed), None) => results.push(Some(signed.recover())),
            (Ok(signed), Some(key)) => match Claimed::new(signed, key) {
                Ok(one) => {
                    results.push(None);
                    claimed.push((index, one));
                }
                Err(rejection) => results.push(Some(Err(rejection))),
            },
        }
    }
    for (index, verified) in check_claimed(claimed) {
        results[index] = Some(verified);
    }
    results
        .into_iter()
        .map(|result| result.unwrap_or_else(|| unreachable!("every claimed sender was checked")))
        .collect()
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
}

/// Checks the claimed senders together, and one by one only if that fails.
///
/// One by one, each sender is recovered and compared with the claim, rather than checked
/// against it: recovery costs about two thirds of a single exact check in wasm, so a batch
/// spoilt on purpose by one wrong key costs the front door little more than an unkeyed one,
/// and a signature no key made is refused for what it is, as without a key.
fn check_claimed(claimed: Vec<(usize, Claimed)>) -> Vec<(usize, TxResult<VerifiedTx>)> {
    let checks: Vec<ExactCheck<'_>> = claimed.iter().map(|(_, one)| one.check()).collect();
    let all_verify = verify_exact_batch(&checks);
    drop(checks);
    claimed
        .into_iter()
        .map(|(index, one)| {
            let verified = if all_verify {
                Ok(one.signed.trusting(one.public_key, Some(one.nonce_y)))
            } else {
                one.signed.recover().and_then(|recovered| {
                    if recovered.public_key == one.public_key {
                        Ok(recovered)
                    } else {
                        Err(TxRejection::SignatureMismatch)
                    }
                })
            };
            (index, verified)
        })
        .collect()
}
