//! Signed Ethereum value transfers: legacy (EIP-155), EIP-2930 and EIP-1559 envelopes.
//!
//! The pipeline has three steps so each party pays only for what it needs:
//! 1. [`decode`]: size limit, strict canonical RLP and every stateless rule (chain id, low `s`,
//!    no data, no access list, gas and fee ranges). No elliptic-curve work.
//! 2. [`SignedTransfer::recover`] (front door: ecrecover; [`admit`] does a submitted batch,
//!    checking together the ones whose client named the sender's key) or
//!    [`SignedTransfer::verify_with`] (validators: check against the public key the proposal
//!    carries; [`verify_all`] checks a whole block's together).
//! 3. [`VerifiedTx`] travels as a [`WireTx`] (raw bytes plus public key) between parts.
//!
//! The transaction hash is keccak256 of the raw bytes, type byte included, as in Ethereum.

mod envelope;
mod front_door;
mod rejection;
mod rules;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use front_door::{Submission, admit};
pub use rejection::{TrailingPosition, TxField, TxRejection, TxResult};

use crate::limits::TX_BYTES_MAX;
use crate::primitives::{Address, Hash, NonceY, U256, keccak256};
use crate::signature::{
    ExactCheck, KnownKeys, PublicKey, RecoverableSignature, SecretKey, SignatureError,
    verify_exact_batch,
};

/// Gas a value transfer costs, and the least gas limit a transaction may carry. The chain
/// charges exactly this much gas per transaction.
pub const TRANSFER_GAS: u64 = 21_000;

pub use crate::limits::VALUE_BITS_MAX;

/// Which Ethereum envelope a transaction uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxKind {
    /// A legacy transaction with EIP-155 replay protection.
    Legacy,
    /// An EIP-2930 transaction (type 0x01), with an empty access list.
    AccessList,
    /// An EIP-1559 transaction (type 0x02).
    DynamicFee,
}

impl TxKind {
    /// The EIP-2718 type number (0 for legacy), as JSON-RPC reports it.
    pub const fn type_number(self) -> u8 {
        match self {
            Self::Legacy => 0,
            Self::AccessList => envelope::ACCESS_LIST_TYPE,
            Self::DynamicFee => envelope::DYNAMIC_FEE_TYPE,
        }
    }
}

/// The unsigned fields of a value transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transfer {
    /// The envelope.
    pub kind: TxKind,
    /// The chain the transfer is signed for.
    pub chain_id: u64,
    /// The sender's nonce.
    pub nonce: u64,
    /// Fee cap per gas; for legacy and EIP-2930 transactions, the gas price.
    pub max_fee_per_gas: u128,
    /// Tip per gas; for legacy and EIP-2930 transactions, equal to the gas price.
    pub max_priority_fee_per_gas: u128,
    /// The gas limit (at least [`TRANSFER_GAS`]).
    pub gas_limit: u64,
    /// The recipient.
    pub to: Address,
    /// The amount transferred, in wei.
    pub value: U256,
}

impl Transfer {
    /// The digest the sender signs (EIP-155 for legacy, `keccak256(type ‖ rlp(fields))` for
    /// typed envelopes).
    pub fn signing_hash(&self) -> Hash {
        keccak256(envelope::encode_for_signing(self))
    }

    /// Signs the transfer, encoding the raw bytes exactly as a wallet would (RFC 6979, low `s`).
    ///
    /// Only the fields the envelope carries are encoded: for legacy and EIP-2930 the gas price is
    /// `max_fee_per_gas`, and the returned transfer has the priority fee set equal to it. The
    /// chain's rules are not checked here; [`decode`] checks them.
    pub fn sign(&self, key: &SecretKey) -> SignedTransfer {
        let transfer = self.normalized();
        let signature = key.sign(&transfer.signing_hash());
        let raw = envelope::encode_signed(&transfer, &signature);
        SignedTransfer {
            transfer,
            signature,
            hash: keccak256(&raw),
            raw,
        }
    }

    /// Price per gas actually paid given the chain's base fee (our chains use a fixed base fee
    /// = the minimum gas price): legacy/2930 → gas price; 1559 → min(max fee, base fee +
    /// priority fee). `None` when the transaction does not pay the base fee.
    pub fn effective_gas_price(&self, base_fee_per_gas: u128) -> Option<u128> {
        if self.max_fee_per_gas < base_fee_per_gas {
            return None;
        }
        match self.kind {
            TxKind::Legacy | TxKind::AccessList => Some(self.max_fee_per_gas),
            TxKind::DynamicFee => Some(
                // Saturation is harmless: the result is capped by the max fee anyway.
                base_fee_per_gas
                    .saturating_add(self.max_priority_fee_per_gas)
                    .min(self.max_fee_per_gas),
            ),
        }
    }

    /// `gas_limit * max_fee_per_gas + value`: what the sender must hold up front.
    ///
    /// Cannot overflow for a decoded transfer: 64 + 128 bits of fee plus a value of at most
    /// [`VALUE_BITS_MAX`] bits fit 256 bits. Saturates for hand-built out-of-range values.
    pub fn max_cost(&self) -> U256 {
        let fee = U256::from(self.gas_limit) * U256::from(self.max_fee_per_gas);
        fee.saturating_add(self.value)
    }

    /// The transfer as its envelope can carry it: one gas price for legacy and EIP-2930.
    fn normalized(&self) -> Self {
        match self.kind {
            TxKind::Legacy | TxKind::AccessList => Self {
                max_priority_fee_per_gas: self.max_fee_per_gas,
                ..*self
            },
            TxKind::DynamicFee => *self,
        }
    }
}

/// A transaction that passed [`decode`] (or was made by [`Transfer::sign`]), signature not yet
/// checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTransfer {
    transfer: Transfer,
    signature: RecoverableSignature,
    hash: Hash,
    raw: Vec<u8>,
}

/// Structural decoding and every stateless rule except the elliptic-curve work.
///
/// `chain_id` is this chain's id; transactions signed for any other chain are refused.
pub fn decode(raw: &[u8], chain_id: u64) -> TxResult<SignedTransfer> {
    if raw.len() > TX_BYTES_MAX {
        return Err(TxRejection::TooLarge {
            got: raw.len(),
            limit: TX_BYTES_MAX,
        });
    }
    let fields = envelope::decode_envelope(raw)?;
    let (transfer, signature) = rules::apply(&fields, chain_id)?;
    Ok(SignedTransfer {
        transfer,
        signature,
        hash: keccak256(raw),
        raw: raw.to_vec(),
    })
}

impl SignedTransfer {
    /// The unsigned fields.
    pub fn transfer(&self) -> &Transfer {
        &self.transfer
    }

    /// The signature as decoded (`r`, low `s`, y parity).
    pub fn signature(&self) -> &RecoverableSignature {
        &self.signature
    }

    /// The transaction hash: keccak256 of the raw bytes.
    pub fn hash(&self) -> Hash {
        self.hash
    }

    /// The raw signed bytes, exactly as received or signed.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// Recovers the sender with ecrecover: the front door's path. Also works out the
    /// signature's nonce y ([`RecoverableSignature::nonce_y`]) for the validators: a square
    /// root here once instead of in every validator.
    pub fn recover(self) -> TxResult<VerifiedTx> {
        let public_key = self.signature.recover(&self.transfer.signing_hash())?;
        let nonce_y = self.signature.nonce_y()?;
        Ok(self.trusting(public_key, Some(nonce_y)))
    }

    /// Verifies the signature against a known public key (cheaper than recovery): the
    /// validators' path, with the key the proposal carries. The sender is `public_key.address()`.
    ///
    /// The y parity is checked too, so this accepts exactly when [`Self::recover`] would give
    /// this key: a parity-flipped copy of a valid transaction is refused.
    pub fn verify_with(self, public_key: PublicKey) -> TxResult<VerifiedTx> {
        let nonce_y = self
            .signature
            .verify_exact(&self.transfer.signing_hash(), &public_key)?;
        Ok(self.trusting(public_key, Some(nonce_y)))
    }

    /// Pairs the transfer with a public key (and nonce y) without checking the signature.
    fn trusting(self, public_key: PublicKey, nonce_y: Option<NonceY>) -> VerifiedTx {
        self.trusting_as(public_key.address(), public_key, nonce_y)
    }

    /// [`Self::trusting`] with the key's address already known (`sender`).
    fn trusting_as(
        self,
        sender: Address,
        public_key: PublicKey,
        nonce_y: Option<NonceY>,
    ) -> VerifiedTx {
        VerifiedTx {
            sender,
            public_key,
            nonce_y,
            tx: self,
        }
    }
}

/// A transaction whose signature has been checked, with its sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedTx {
    /// The signed transaction.
    pub tx: SignedTransfer,
    /// The sender's address.
    pub sender: Address,
    /// The sender's public key (so validators can verify instead of recovering).
    pub public_key: PublicKey,
    /// The y of the signature's nonce point (so validators check it instead of taking a
    /// square root); `None` only for a transaction stored before it was carried.
    pub nonce_y: Option<NonceY>,
}

impl VerifiedTx {
    /// The transaction hash.
    pub fn hash(&self) -> Hash {
        self.tx.hash()
    }

    /// The sender's nonce for this transaction.
    pub fn nonce(&self) -> u64 {
        self.tx.transfer().nonce
    }

    /// The unsigned fields.
    pub fn transfer(&self) -> &Transfer {
        self.tx.transfer()
    }

    /// The transport and storage form.
    pub fn to_wire(&self) -> WireTx {
        WireTx {
            raw: self.tx.raw().to_vec(),
            public_key: self.public_key,
            nonce_y: self.nonce_y,
        }
    }
}

/// Transport and storage form of a verified transaction: the raw bytes, the sender's public
/// key and the signature's nonce y. MessagePack: `[bin raw, bin 64-byte key, bin 32-byte y or
/// nil]`; the two-element form stored before the nonce y existed still decodes (as `None`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireTx {
    /// The raw signed transaction.
    #[serde(with = "serde_bytes")]
    pub raw: Vec<u8>,
    /// The sender's public key.
    pub public_key: PublicKey,
    /// The y of the signature's nonce point, from the front door's recovery. Only a hint: a
    /// wrong one fails the validators' check, and without one they take the square root.
    #[serde(default)]
    pub nonce_y: Option<NonceY>,
}

impl WireTx {
    /// Decodes and verifies the signature against the carried key, and the carried nonce y
    /// if any: for input from others. Accepts exactly what [`verify_all`] accepts, one at a
    /// time, so after a batch fails this says which transaction failed it and why.
    pub fn verify(&self, chain_id: u64) -> TxResult<VerifiedTx> {
        let verified = decode(&self.raw, chain_id)?.verify_with(self.public_key)?;
        if self
            .nonce_y
            .is_some_and(|carried| Some(carried) != verified.nonce_y)
        {
            return Err(SignatureError::Invalid.into());
        }
        Ok(verified)
    }

    /// Decodes without elliptic-curve work, trusting the key: only for reloading our own
    /// storage, which held verified transactions.
    pub fn decode_trusted(&self, chain_id: u64) -> TxResult<VerifiedTx> {
        Ok(decode(&self.raw, chain_id)?.trusting(self.public_key, self.nonce_y))
    }

    /// [`Self::decode_trusted`] for one of a batch: the keys the batch named before give
    /// their addresses without hashing them again.
    pub fn decode_trusted_among(
        &self,
        chain_id: u64,
        known: &mut KnownKeys,
    ) -> TxResult<VerifiedTx> {
        let sender = known.address(&self.public_key);
        Ok(decode(&self.raw, chain_id)?.trusting_as(sender, self.public_key, self.nonce_y))
    }
}

/// Decodes every transaction and verifies all their signatures against the keys they carry
/// together ([`crate::signature::verify_exact_batch`], about a third of the cost of one by one).
/// `None` if any fails: [`WireTx::verify`] one by one then says which and why.
pub fn verify_all(transactions: &[WireTx], chain_id: u64) -> Option<Vec<VerifiedTx>> {
    let decoded = transactions
        .iter()
        .map(|tx| decode(&tx.raw, chain_id).ok())
        .collect::<Option<Vec<SignedTransfer>>>()?;
    let digests: Vec<Hash> = decoded
        .iter()
        .map(|signed| signed.transfer.signing_hash())
        .collect();
    let checks: Vec<ExactCheck<'_>> = decoded
        .iter()
        .zip(&digests)
        .zip(transactions)
        .map(|((signed, prehash), tx)| ExactCheck {
            prehash,
            signature: &signed.signature,
            public_key: &tx.public_key,
            nonce_y: tx.nonce_y.as_ref(),
        })
        .collect();
    if !verify_exact_batch(&checks) {
        return None;
    }
    let mut known = KnownKeys::new();
    Some(
        decoded
            .into_iter()
            .zip(transactions)
            .map(|(signed, tx)| {
                signed.trusting_as(known.address(&tx.public_key), tx.public_key, tx.nonce_y)
            })
            .collect(),
    )
}
