//! Backups from an operator's terminal: list a chain's backup index, and restore a backup by
//! CID: fetch it from a gateway or an IPFS node, decrypt it with the key, verify the state
//! against its certified block (every shard root, the certificate against the validator set),
//! write the state out, and optionally ask a chain to restore it.
//!
//! Verification is the same code the archiver runs ([`ledger::snapshot`]); with the index's
//! record for the CID (from the chain's admin API) the size and SHA-256 are checked too.

use crate::http::agent;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use ledger::archive::{BackupIndex, BackupRecord};
use ledger::backup::{BackupKey, BackupReader};
use ledger::genesis::ChainConfig;
use ledger::primitives::{Address, Hash, U256};
use ledger::snapshot::{SnapshotOpener, SnapshotRecord, VerifiedSnapshot, read_verified};
use ledger::state::Account;
use serde::Serialize;

/// Where a backup is fetched from.
#[derive(Debug, Clone)]
pub enum Source {
    /// An IPFS gateway: `GET {url}/ipfs/{cid}`.
    Gateway(String),
    /// A Kubo-compatible RPC API: `POST {url}/api/v0/cat?arg={cid}`.
    IpfsApi(String),
}

/// A chain's admin API: its base URL and admin token.
#[derive(Debug, Clone)]
pub struct AdminApi {
    /// e.g. `http://127.0.0.1:8787`.
    pub url: String,
    /// The `ADMIN_TOKEN`.
    pub token: String,
}

impl AdminApi {
    /// `GET /v1/admin/backups`: the backup index.
    pub fn backups(&self) -> Result<BackupIndex> {
        let mut response = agent(Duration::from_secs(60))
            .get(format!("{}/v1/admin/backups", self.url))
            .header("authorization", format!("Bearer {}", self.token))
            .call()
            .context("asking for the backup index")?;
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_vec()?;
        if status != 200 {
            bail!(
                "the chain answered {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        serde_json::from_slice(&body).context("reading the backup index")
    }

    /// `POST /v1/admin/restore`: asks the chain to restore `cid` (it accepts only its latest).
    pub fn restore(&self, cid: &str) -> Result<serde_json::Value> {
        let mut response = agent(Duration::from_secs(300))
            .post(format!("{}/v1/admin/restore", self.url))
            .header("authorization", format!("Bearer {}", self.token))
            .header("content-type", "application/json")
            .send(serde_json::json!({ "cid": cid }).to_string())
            .context("asking the chain to restore")?;
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_vec()?;
        let answer: serde_json::Value = serde_json::from_slice(&body).map_err(|_| {
            anyhow!(
                "the chain answered {status}: {}",
                String::from_utf8_lossy(&body)
            )
        })?;
        if status != 200 {
            bail!("the chain refused the restore ({status}): {answer}");
        }
        Ok(answer)
    }
}

/// Fetches a backup's bytes (see [`crate::download::fetch_with_progress`] to report progress).
pub fn fetch(source: &Source, cid: &str) -> Result<Vec<u8>> {
    crate::download::fetch_with_progress(source, cid, &mut |_, _| {})
}

/// A verified backup's state, as the tool writes it out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestoredState {
    /// The chain.
    pub chain_id: u64,
    /// Height of the backed-up block.
    pub height: u64,
    /// Its hash.
    pub block_hash: Hash,
    /// The state root.
    pub state_root: Hash,
    /// The sum of all balances (wei).
    #[serde(with = "ledger::primitives::u256_bytes")]
    pub total_supply: U256,
    /// Every account, in address order within each shard.
    pub accounts: Vec<RestoredAccount>,
}

/// One account of a restored state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestoredAccount {
    /// Its address.
    pub address: Address,
    /// Its nonce.
    pub nonce: u64,
    /// Its balance (wei).
    #[serde(with = "ledger::primitives::u256_bytes")]
    pub balance: U256,
}

impl RestoredState {
    fn new(verified: &VerifiedSnapshot, accounts: Vec<(Address, Account)>) -> Self {
        let header = &verified.manifest.header;
        Self {
            chain_id: header.chain_id,
            height: header.height,
            block_hash: header.hash(),
            state_root: header.state_root,
            total_supply: verified.total_supply,
            accounts: accounts
                .into_iter()
                .map(|(address, account)| RestoredAccount {
                    address,
                    nonce: account.nonce,
                    balance: account.balance,
                })
                .collect(),
        }
    }
}

/// Decrypts and verifies a backup. With the index's `record` for it, also checks its size,
/// SHA-256, chain, height and root; without, trusts the envelope's header for those and still
/// checks everything it can (the certificate, every shard root).
pub fn open(
    bytes: &[u8],
    key: &BackupKey,
    config: &ChainConfig,
    record: Option<&BackupRecord>,
) -> Result<RestoredState> {
    match record {
        Some(record) => {
            let mut opener = SnapshotOpener::new(key, config, record);
            let mut accounts = Vec::new();
            let mut take = |records: Vec<SnapshotRecord>| {
                for record in records {
                    if let SnapshotRecord::Accounts(page) = record {
                        accounts.extend(page);
                    }
                }
            };
            take(opener.push(bytes).map_err(|error| anyhow!("{error}"))?);
            let (last, verified) = opener.finish().map_err(|error| anyhow!("{error}"))?;
            take(last);
            Ok(RestoredState::new(&verified, accounts))
        }
        None => {
            let mut reader = BackupReader::new(key);
            let mut plaintext: Vec<u8> = reader
                .push(bytes)
                .map_err(|error| anyhow!("{error}"))?
                .concat();
            let (header, last) = reader.finish().map_err(|error| anyhow!("{error}"))?;
            plaintext.extend(last);
            if header.fields.chain_id != config.chain_id {
                bail!(
                    "the backup is of chain {}, not {}",
                    header.fields.chain_id,
                    config.chain_id
                );
            }
            let (verified, accounts) = read_verified(&plaintext, config, Some(header.fields))
                .map_err(|error| anyhow!("{error}"))?;
            Ok(RestoredState::new(&verified, accounts))
        }
    }
}

/// How the restored state is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Pretty JSON, for people.
    Json,
    /// MessagePack (a map with the JSON's keys, hashes and addresses as bytes), for machines.
    Msgpack,
}

/// The state in the chosen format.
pub fn encode(state: &RestoredState, format: OutputFormat) -> Result<Vec<u8>> {
    Ok(match format {
        OutputFormat::Json => serde_json::to_vec_pretty(state)?,
        OutputFormat::Msgpack => rmp_serde::to_vec_named(state)?,
    })
}

#[cfg(test)]
mod tests;
