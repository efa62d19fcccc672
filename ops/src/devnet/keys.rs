//! Keys of a local network: the standard development accounts and fresh random secrets.

use anyhow::{Context, Result, anyhow};
use bip32::{DerivationPath, XPrv};
use ledger::signature::SecretKey;

/// The mnemonic every local Ethereum node funds by default (hardhat, anvil, ganache).
pub const DEVELOPMENT_MNEMONIC: &str =
    "test test test test test test test test test test test junk";

/// How many development accounts a local network funds, as local Ethereum nodes do.
pub const DEVELOPMENT_ACCOUNT_COUNT: usize = 20;

/// The development accounts' secret keys: BIP-39 seed of [`DEVELOPMENT_MNEMONIC`] (no
/// passphrase), BIP-32 path `m/44'/60'/0'/0/i` for `i` in `0..count`.
pub fn development_keys(count: usize) -> Result<Vec<SecretKey>> {
    let mnemonic = bip39::Mnemonic::parse_normalized(DEVELOPMENT_MNEMONIC)
        .map_err(|error| anyhow!("the development mnemonic: {error}"))?;
    let seed = mnemonic.to_seed("");
    (0..count)
        .map(|index| {
            let path: DerivationPath = format!("m/44'/60'/0'/0/{index}")
                .parse()
                .map_err(|error| anyhow!("derivation path {index}: {error}"))?;
            let child = XPrv::derive_from_path(&seed, &path)
                .map_err(|error| anyhow!("deriving account {index}: {error}"))?;
            let secret: [u8; 32] = child.private_key().to_bytes().into();
            SecretKey::from_bytes(&secret)
                .map_err(|error| anyhow!("development key {index}: {error}"))
        })
        .collect()
}

/// 32 bytes from the operating system's random source.
pub fn random_bytes() -> Result<[u8; 32]> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|error| anyhow!("the OS random source: {error}"))?;
    Ok(bytes)
}

/// A fresh random secp256k1 key, as `0x` hex (what `VALIDATOR_SECRET_KEY` holds).
pub fn random_secret_key_hex() -> Result<String> {
    loop {
        let bytes = random_bytes()?;
        // Almost every 32-byte string is a valid scalar; retry the rare one that is not.
        if SecretKey::from_bytes(&bytes).is_ok() {
            return Ok(ledger::primitives::to_hex(bytes));
        }
    }
}

/// Parses a `0x` hex secret key.
pub fn parse_secret_key(text: &str) -> Result<SecretKey> {
    let bytes: [u8; 32] = ledger::primitives::parse_hex_array(text)
        .context("a secret key is 0x and 64 hex digits")?;
    SecretKey::from_bytes(&bytes).map_err(|error| anyhow!("invalid secret key: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger::primitives::U256;
    use ledger::transaction::{Transfer, TxKind, decode};

    #[test]
    fn the_development_accounts_are_the_well_known_ones() {
        let keys = development_keys(DEVELOPMENT_ACCOUNT_COUNT).expect("derives");
        let address = |index: usize| keys[index].public_key().address().to_string();
        assert_eq!(address(0), "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266");
        assert_eq!(address(1), "0x70997970c51812dc3a010c7d01b50e0d17dc79c8");
        assert_eq!(address(19), "0x8626f6940e2eb28930efb4cef49b2d1f2c9c1199");
    }

    #[test]
    fn a_development_key_signs_transfers_recovered_to_its_address() {
        let keys = development_keys(2).expect("derives");
        let signed = Transfer {
            kind: TxKind::DynamicFee,
            chain_id: 31_337,
            nonce: 0,
            max_fee_per_gas: 1,
            max_priority_fee_per_gas: 1,
            gas_limit: 21_000,
            to: keys[1].public_key().address(),
            value: U256::from(1u64),
        }
        .sign(&keys[0]);
        let recovered = decode(signed.raw(), 31_337)
            .and_then(|transfer| transfer.recover())
            .expect("recovers");
        assert_eq!(recovered.sender, keys[0].public_key().address());
    }

    #[test]
    fn random_keys_differ_and_parse_back() {
        let first = random_secret_key_hex().expect("random");
        let second = random_secret_key_hex().expect("random");
        assert_ne!(first, second);
        assert!(parse_secret_key(&first).is_ok());
        assert!(parse_secret_key("0x12").is_err());
    }
}
