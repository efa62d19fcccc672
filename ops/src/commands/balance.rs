//! `ops balance`: an account's balance and nonces (`GET /v1/accounts/{address}`), and with
//! `--proof` its certified proof checked against the genesis validator set, so the answer is
//! trusted only as far as the validators' signatures go.

use anyhow::{Context, Result, anyhow, bail};
use ledger::api::AccountAnswer;
use ledger::genesis::Genesis;
use ledger::primitives::{Address, Hash};
use serde::Serialize;

use super::{GenesisSource, aligned, print_json};
use crate::client::{Client, DEFAULT_URL};
use crate::units::format_ether;

/// `ops balance`.
#[derive(Debug, Clone, clap::Args)]
pub struct BalanceArgs {
    /// The account (`0x` and 40 hex digits).
    pub address: String,
    /// The chain's API.
    #[arg(long, default_value = DEFAULT_URL)]
    pub url: String,
    /// Ask for the certified proof and verify it against the genesis validator set (from
    /// `--genesis` or the network folder).
    #[arg(long)]
    pub proof: bool,
    /// Where the genesis is (for `--proof`).
    #[command(flatten)]
    pub genesis: GenesisSource,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// What a verified proof showed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProofCheck {
    /// Always true: a proof that does not verify is an error, not a report.
    pub verified: bool,
    /// Height of the certified block the proof is against.
    pub height: u64,
    /// That block's hash.
    pub block_hash: Hash,
    /// Its state root.
    pub state_root: Hash,
    /// Whether the account exists in that state (an absent one is proven absent).
    pub exists: bool,
}

/// An account, as `ops balance` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BalanceReport {
    /// The account.
    pub address: Address,
    /// Committed balance in wei, as a decimal string.
    pub balance_wei: String,
    /// The same in ether, as a decimal string.
    pub balance_ether: String,
    /// Committed nonce.
    pub nonce: u64,
    /// The nonce its next transaction should carry (counting pending ones).
    pub pending_nonce: u64,
    /// With `--proof`: what the verified proof showed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proof: Option<ProofCheck>,
}

impl BalanceReport {
    /// The report of `answer`, with the proof's check if there was one.
    pub fn new(answer: &AccountAnswer, proof: Option<ProofCheck>) -> Self {
        Self {
            address: answer.address,
            balance_wei: answer.balance.to_string(),
            balance_ether: format_ether(answer.balance),
            nonce: answer.nonce,
            pending_nonce: answer.pending_nonce,
            proof,
        }
    }

    /// The summary for people.
    pub fn summary(&self) -> String {
        let mut rows = vec![
            ("address", self.address.to_string()),
            (
                "balance",
                format!("{} wei ({} ether)", self.balance_wei, self.balance_ether),
            ),
            ("nonce", self.nonce.to_string()),
            ("pending nonce", self.pending_nonce.to_string()),
        ];
        if let Some(proof) = &self.proof {
            rows.push((
                "proof",
                format!(
                    "verified against the genesis validator set: the account {} at block {} ({})",
                    if proof.exists {
                        "exists"
                    } else {
                        "does not exist"
                    },
                    proof.height,
                    proof.block_hash
                ),
            ));
        }
        aligned(&rows)
    }
}

/// Verifies `answer`'s certified proof against `genesis`: the certificate over the header by
/// the genesis validator set (at height 0, the header must be the genesis header itself), the
/// Merkle proof against the header's state root, and that the proven account is the one the
/// answer states.
pub fn check_proof(answer: &AccountAnswer, genesis: &Genesis) -> Result<ProofCheck> {
    let certified = answer
        .proof
        .as_ref()
        .context("the chain sent no proof (asked with ?proof=true)")?;
    let config = &genesis.config;
    let header = &certified.header;
    if header.chain_id != config.chain_id {
        bail!(
            "the proof is for chain {}, the genesis for chain {}",
            header.chain_id,
            config.chain_id
        );
    }
    let proven = certified
        .verify(&config.validators, config.chain_id, &answer.address)
        .map_err(|error| anyhow!("the proof does not verify: {error}"))?;
    if header.height == 0 {
        // The genesis certificate carries no votes: the header must be the genesis itself.
        let genesis_header = genesis
            .header()
            .map_err(|error| anyhow!("the genesis is invalid: {error}"))?;
        if header.hash() != genesis_header.hash() {
            bail!("the proof is against a block 0 that is not this genesis");
        }
    }
    let account = proven.unwrap_or_default();
    if (account.balance, account.nonce) != (answer.balance, answer.nonce) {
        bail!(
            "the proof shows balance {} and nonce {}, but the chain answered {} and {}",
            account.balance,
            account.nonce,
            answer.balance,
            answer.nonce
        );
    }
    Ok(ProofCheck {
        verified: true,
        height: header.height,
        block_hash: header.hash(),
        state_root: header.state_root,
        exists: proven.is_some(),
    })
}

/// Parses an address given on the command line.
pub fn parse_address(text: &str) -> Result<Address> {
    text.trim()
        .parse()
        .map_err(|error| anyhow!("{text:?} is not an address (0x and 40 hex digits): {error}"))
}

/// `ops balance`.
pub fn run(args: &BalanceArgs) -> Result<()> {
    let address = parse_address(&args.address)?;
    // The genesis first: a missing one fails before any request.
    let genesis = if args.proof {
        Some(args.genesis.load()?)
    } else {
        None
    };
    let answer = Client::new(&args.url).account(&address, args.proof)?;
    if answer.address != address {
        bail!(
            "asked for {address}, the chain answered for {}",
            answer.address
        );
    }
    let proof = genesis
        .map(|genesis| check_proof(&answer, &genesis))
        .transpose()?;
    let report = BalanceReport::new(&answer, proof);
    if args.json {
        print_json(&report)
    } else {
        print!("{}", report.summary());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger::api::CertifiedAccountProof;
    use ledger::consensus::ValidatorSet;
    use ledger::genesis::{ChainConfig, GenesisAccount};
    use ledger::in_memory::InMemoryShards;
    use ledger::primitives::U256;
    use ledger::signature::SecretKey;
    use ledger::state::ShardLayout;

    fn secret(seed: u8) -> SecretKey {
        SecretKey::from_bytes(&[seed; 32]).expect("a valid key")
    }

    fn genesis() -> Genesis {
        Genesis {
            config: ChainConfig {
                chain_id: 5,
                shard_bits: ShardLayout::new(1).expect("layout"),
                validators: ValidatorSet::new(vec![secret(1).public_key()]).expect("set"),
                proposer: secret(2).address(),
                fee_recipient: secret(2).address(),
                base_fee_per_gas: 0,
                batch_window_ms: 10,
            },
            timestamp_ms: 1,
            accounts: (3..7)
                .map(|seed| GenesisAccount {
                    address: secret(seed).address(),
                    balance: U256::from(u64::from(seed) * 10u64.pow(18)),
                })
                .collect(),
        }
    }

    /// What the API answers for `address` on `genesis`'s chain certified at block 1.
    fn answer(genesis: &Genesis, address: Address) -> AccountAnswer {
        let shards = InMemoryShards::from_genesis(genesis).expect("shards");
        let (header, certificate) =
            ledger::in_memory::certified_block_one(genesis, &[secret(1)]).expect("certified");
        let shard = genesis.config.layout().shard_of(&address);
        let proof = shards
            .shard(shard)
            .prove(&address)
            .expect("proves")
            .with_top_path(ledger::trie::top_path(&shards.roots(), shard));
        let account = shards.account(&address).expect("reads");
        AccountAnswer {
            address,
            nonce: account.nonce,
            balance: account.balance,
            pending_nonce: account.nonce,
            proof: Some(CertifiedAccountProof {
                header,
                certificate,
                proof,
            }),
        }
    }

    #[test]
    fn a_certified_proof_verifies_for_present_and_absent_accounts() {
        let genesis = genesis();
        let present = answer(&genesis, secret(4).address());
        let check = check_proof(&present, &genesis).expect("verifies");
        assert!(check.verified && check.exists);
        assert_eq!(check.height, 1);
        let absent = answer(&genesis, secret(40).address());
        assert!(!check_proof(&absent, &genesis).expect("verifies").exists);
    }

    #[test]
    fn a_proof_that_disagrees_or_is_tampered_with_is_refused() {
        let genesis = genesis();
        let mut lying = answer(&genesis, secret(4).address());
        lying.balance += U256::from(1u64);
        let error = check_proof(&lying, &genesis).expect_err("the balance is not the proven one");
        assert!(error.to_string().contains("the proof shows"), "{error}");

        let mut tampered = answer(&genesis, secret(4).address());
        if let Some(proof) = tampered.proof.as_mut() {
            proof.header.state_root = Hash([1; 32]);
        }
        let error = check_proof(&tampered, &genesis).expect_err("tampered");
        assert!(error.to_string().contains("does not verify"), "{error}");

        let mut other_chain = genesis.clone();
        other_chain.config.chain_id = 6;
        assert!(check_proof(&answer(&genesis, secret(4).address()), &other_chain).is_err());

        let mut no_proof = answer(&genesis, secret(4).address());
        no_proof.proof = None;
        assert!(check_proof(&no_proof, &genesis).is_err());
    }

    #[test]
    fn the_report_shows_wei_and_ether() {
        let genesis = genesis();
        let answer = answer(&genesis, secret(3).address());
        let report = BalanceReport::new(&answer, Some(check_proof(&answer, &genesis).expect("ok")));
        let json = serde_json::to_value(&report).expect("JSON");
        assert_eq!(json["balance_wei"], "3000000000000000000");
        assert_eq!(json["balance_ether"], "3");
        assert_eq!(json["nonce"], 0);
        assert_eq!(json["pending_nonce"], 0);
        assert_eq!(json["proof"]["verified"], true);
        assert_eq!(json["proof"]["height"], 1);
        let summary = report.summary();
        assert!(
            summary.contains("balance        3000000000000000000 wei (3 ether)"),
            "{summary}"
        );
        assert!(summary.contains("proof          verified"), "{summary}");
        let without = serde_json::to_value(BalanceReport::new(&answer, None)).expect("JSON");
        assert!(without.get("proof").is_none());
    }

    #[test]
    fn addresses_are_checked() {
        assert!(parse_address("0x70997970c51812dc3a010c7d01b50e0d17dc79c8").is_ok());
        assert!(parse_address("70997970c51812dc3a010c7d01b50e0d17dc79c8").is_err());
        assert!(parse_address("0x1234").is_err());
    }
}
