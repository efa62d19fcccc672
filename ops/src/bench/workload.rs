//! What a benchmark sends: senders (the development accounts, or keys derived from a seed and
//! funded by them) and EIP-1559 transfers pre-signed before the clock starts, so the numbers
//! measure the chain and not the client.

use anyhow::{Context, Result, ensure};
use ledger::primitives::{Address, Hash, U256, keccak256_concat};
use ledger::random::SplitMix64;
use ledger::signature::SecretKey;
use ledger::transaction::{SignedTransfer, TRANSFER_GAS, Transfer, TxKind};

use crate::devnet::keys::{DEVELOPMENT_ACCOUNT_COUNT, development_keys};

/// Fee cap per gas of every benchmark transfer: 2 gwei, above anvil's starting base fee of 1
/// gwei (which only falls while blocks stay under half the gas limit) and our chains' 0.
pub const MAX_FEE_PER_GAS: u128 = 2_000_000_000;

/// Tip per gas: 1 gwei.
pub const PRIORITY_FEE_PER_GAS: u128 = 1_000_000_000;

/// Wei each transfer moves.
const TRANSFER_VALUE: u64 = 1;

/// Distinct recipients the transfers cycle through by default: enough to spread over every
/// shard, few enough that the state does not grow by one account per transfer.
pub const RECIPIENTS: usize = 1_024;

/// A transaction signed and ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTx {
    /// The raw bytes.
    pub raw: Vec<u8>,
    /// keccak256 of them.
    pub hash: Hash,
    /// The sender's public key (`x ‖ y`), which native batches may carry.
    pub sender_key: [u8; 64],
    /// The y of the signature's nonce point, which native batches may carry with the key.
    pub nonce_y: [u8; 32],
}

impl SignedTx {
    /// `signed`, sent by the holder of `sender_key`. Works out the nonce y here, before the
    /// clock starts: a square root, which a signer that kept its nonce point would not need.
    pub fn new(signed: &SignedTransfer, sender_key: [u8; 64]) -> Result<Self> {
        Ok(Self {
            raw: signed.raw().to_vec(),
            hash: signed.hash(),
            sender_key,
            nonce_y: signed.signature().nonce_y()?.0,
        })
    }
}

/// The senders: the first `count` development accounts when `count` is at most 20, else
/// `count` keys derived from `seed` (which the benchmark funds first).
pub fn senders(count: usize, seed: u64) -> Result<Vec<SecretKey>> {
    ensure!(count > 0, "--senders must be at least 1");
    if count <= DEVELOPMENT_ACCOUNT_COUNT {
        return development_keys(count);
    }
    (0..count).map(|index| derived_key(seed, index)).collect()
}

/// Whether the senders need funding first (they are not development accounts).
pub const fn needs_funding(count: usize) -> bool {
    count > DEVELOPMENT_ACCOUNT_COUNT
}

/// Sender `index` of the benchmark seeded by `seed`: `keccak256("edgeledger/bench" ‖ seed ‖
/// index ‖ attempt)`, the first attempt that is a valid secp256k1 scalar.
fn derived_key(seed: u64, index: usize) -> Result<SecretKey> {
    for attempt in 0u8..=255 {
        let bytes = keccak256_concat(&[
            b"edgeledger/bench",
            &seed.to_be_bytes(),
            &(index as u64).to_be_bytes(),
            &[attempt],
        ]);
        if let Ok(key) = SecretKey::from_bytes(&bytes.0) {
            return Ok(key);
        }
    }
    anyhow::bail!("no valid key for sender {index}")
}

/// `count` recipients drawn from `seed`.
pub fn recipients(seed: u64, count: usize) -> Vec<Address> {
    let mut random = SplitMix64::new(seed ^ 0x5EED_4EC1);
    (0..count)
        .map(|_| {
            let mut bytes = [0u8; 20];
            for chunk in bytes.chunks_mut(8) {
                let word = random.next_u64().to_be_bytes();
                chunk.copy_from_slice(&word[..chunk.len()]);
            }
            Address(bytes)
        })
        .collect()
}

/// What one sender needs to send `transfers` benchmark transfers: their value and their
/// maximum fee, twice over (a margin for a second run on the same chain).
pub fn funding_per_sender(transfers: usize) -> U256 {
    let per_transfer =
        U256::from(TRANSFER_VALUE) + U256::from(u128::from(TRANSFER_GAS) * MAX_FEE_PER_GAS);
    per_transfer * U256::from(transfers as u64) * U256::from(2u64)
}

/// One benchmark transfer.
pub fn transfer(chain_id: u64, nonce: u64, to: Address, value: U256) -> Transfer {
    Transfer {
        kind: TxKind::DynamicFee,
        chain_id,
        nonce,
        max_fee_per_gas: MAX_FEE_PER_GAS,
        max_priority_fee_per_gas: PRIORITY_FEE_PER_GAS,
        gas_limit: TRANSFER_GAS,
        to,
        value,
    }
}

/// Signs `count` transfers round-robin over `senders` (each from its `next nonce`), to
/// `recipients` in turn. Round-robin keeps every batch spread over many senders with
/// ascending nonces, as independent clients would send them.
pub fn sign_transfers(
    chain_id: u64,
    senders: &[(SecretKey, u64)],
    recipients: &[Address],
    count: usize,
    mut progress: impl FnMut(usize),
) -> Result<Vec<SignedTx>> {
    ensure!(
        !senders.is_empty() && !recipients.is_empty(),
        "no senders or recipients"
    );
    let keys: Vec<[u8; 64]> = senders
        .iter()
        .map(|(key, _)| key.public_key().to_xy())
        .collect();
    let mut signed = Vec::with_capacity(count);
    for index in 0..count {
        let (key, first_nonce) = &senders[index % senders.len()];
        let nonce = first_nonce
            .checked_add((index / senders.len()) as u64)
            .context("a nonce past u64")?;
        let to = recipients[index % recipients.len()];
        let transfer = transfer(chain_id, nonce, to, U256::from(TRANSFER_VALUE)).sign(key);
        signed.push(SignedTx::new(&transfer, keys[index % senders.len()])?);
        progress(index + 1);
    }
    Ok(signed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger::transaction::decode;

    #[test]
    fn up_to_twenty_senders_are_the_development_accounts() {
        let two = senders(2, 9).expect("keys");
        assert_eq!(
            two[0].public_key().address().to_string(),
            "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
        );
        assert!(!needs_funding(20));
        let many = senders(25, 9).expect("keys");
        assert_eq!(many.len(), 25);
        assert!(needs_funding(25));
        // Derived keys are distinct, repeatable, and differ by seed.
        let again = senders(25, 9).expect("keys");
        let other = senders(25, 10).expect("keys");
        assert_eq!(many[24].to_bytes(), again[24].to_bytes());
        assert_ne!(many[24].to_bytes(), other[24].to_bytes());
        assert_ne!(many[0].to_bytes(), many[1].to_bytes());
        assert!(senders(0, 1).is_err());
    }

    #[test]
    fn transfers_go_round_robin_with_ascending_nonces_and_decode() {
        let keys = senders(3, 1).expect("keys");
        let with_nonces: Vec<(SecretKey, u64)> = keys.iter().cloned().zip([5, 0, 9]).collect();
        let to = recipients(1, RECIPIENTS);
        assert_eq!(to.len(), RECIPIENTS);
        assert_eq!(recipients(1, 3), to[..3], "a prefix of the same draw");
        let mut seen = 0;
        let signed =
            sign_transfers(31337, &with_nonces, &to, 7, |done| seen = done).expect("signs");
        assert_eq!((signed.len(), seen), (7, 7));
        let decoded: Vec<_> = signed
            .iter()
            .map(|tx| {
                let recovered = decode(&tx.raw, 31337)
                    .expect("decodes")
                    .recover()
                    .expect("recovers");
                assert_eq!(recovered.hash(), tx.hash);
                (
                    recovered.sender,
                    recovered.transfer().nonce,
                    recovered.transfer().to,
                )
            })
            .collect();
        let address = |index: usize| keys[index].public_key().address();
        assert_eq!(
            decoded
                .iter()
                .map(|(sender, nonce, _)| (*sender, *nonce))
                .collect::<Vec<_>>(),
            vec![
                (address(0), 5),
                (address(1), 0),
                (address(2), 9),
                (address(0), 6),
                (address(1), 1),
                (address(2), 10),
                (address(0), 7),
            ]
        );
        assert_eq!(decoded[3].2, to[3]);
    }

    #[test]
    fn funding_covers_every_transfer_at_the_fee_cap_twice() {
        let needed = funding_per_sender(10);
        let one = U256::from(1u64) + U256::from(21_000u128 * MAX_FEE_PER_GAS);
        assert_eq!(needed, one * U256::from(20u64));
    }
}
