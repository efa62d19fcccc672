//! Cold storage, encrypted backups and restores on the live network and its IPFS node.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ledger::api::{SubmissionStatus, TxState};
use ledger::archive::BackupIndex;
use ledger::backup::BackupKey;
use ledger::primitives::{Address, Hash, U256};
use ledger::random::SplitMix64;
use ledger::wire::RunReport;
use ops::backups::{self, RestoredState, Source};
use ops::devnet::Pinning;

use crate::harness::{Network, NetworkOptions, Transfers};
use crate::{COMMIT_TIMEOUT, random_address};

/// Blocks the local network keeps hot (its `ARCHIVE_HOT_BLOCKS`).
const LOCAL_HOT_BLOCKS: u64 = ops::devnet::LOCAL_ARCHIVE_HOT_BLOCKS;

/// Commits `blocks` blocks, one small batch each (waiting for each to commit), of transfers
/// from the development accounts to fresh addresses; returns the transaction hashes.
pub(crate) fn commit_blocks(
    network: &Network,
    transfers: &mut Transfers,
    blocks: usize,
) -> Vec<Hash> {
    let mut random = SplitMix64::new(blocks as u64);
    let mut hashes = Vec::new();
    for block in 0..blocks {
        let raws: Vec<Vec<u8>> = (0..2)
            .map(|offset| {
                let sender = (block * 2 + offset) % network.keys.len();
                let to = random_address(&mut random);
                transfers.transfer(sender, to, U256::from(1_000 + block as u64))
            })
            .collect();
        let results = network.client.submit_batch(&raws);
        assert!(
            results
                .iter()
                .all(|r| r.status == SubmissionStatus::Accepted),
            "{results:?}"
        );
        let batch: Vec<Hash> = results.iter().map(|result| result.hash).collect();
        network.client.wait_committed(&batch, COMMIT_TIMEOUT);
        hashes.extend(batch);
    }
    hashes
}

/// Every public read of blocks and transactions, as the client receives it (JSON bodies).
pub(crate) fn reads(network: &Network, heights: u64, hashes: &[Hash]) -> BTreeMap<String, String> {
    let mut reads = BTreeMap::new();
    for height in 0..=heights {
        let path = format!("/v1/blocks/{height}");
        let answer = network.client.get(&path);
        assert_eq!(answer.status, 200, "{path}");
        let block = answer.json::<ledger::api::BlockAnswer>();
        // Genesis is format 1 for good; every block the sequencer made is in its format.
        let format = match height {
            0 => ledger::block::BlockFormat::V1,
            _ => ledger::block::BlockFormat::PROPOSED,
        };
        assert_eq!(block.header.format, format, "{path}");
        let block_hash = block.hash;
        reads.insert(path, answer.text());
        let by_hash = format!("/v1/blocks/{block_hash}");
        reads.insert(by_hash.clone(), network.client.get(&by_hash).text());
    }
    for hash in hashes {
        let path = format!("/v1/txs/{hash}");
        reads.insert(path.clone(), network.client.get(&path).text());
    }
    reads
}

pub(crate) fn run_archiver(network: &Network) -> RunReport {
    let answer = network.admin("POST", "/v1/admin/archive/run", None);
    assert_eq!(answer.status, 200, "{}", answer.text());
    answer.json()
}

pub(crate) fn back_up(network: &Network) -> ledger::archive::BackupRecord {
    let answer = network.admin("POST", "/v1/admin/backups", None);
    assert_eq!(answer.status, 200, "{}", answer.text());
    let report: RunReport = answer.json();
    let summary = format!("{report:?}");
    report
        .backup
        .unwrap_or_else(|| panic!("no backup made: {summary}"))
}

pub(crate) fn index(network: &Network) -> BackupIndex {
    let answer = network.admin("GET", "/v1/admin/backups", None);
    assert_eq!(answer.status, 200, "{}", answer.text());
    answer.json()
}

pub(crate) fn restore(network: &Network, cid: &str) -> crate::client::Answer {
    let body = serde_json::json!({ "cid": cid }).to_string();
    network.admin("POST", "/v1/admin/restore", Some(body.as_bytes()))
}

/// The backup `cid`, fetched from the network's IPFS node and opened with its key.
pub(crate) fn open_backup(
    network: &Network,
    record: &ledger::archive::BackupRecord,
) -> RestoredState {
    let bytes = backups::fetch(&Source::IpfsApi(network.ipfs_api_url()), &record.cid)
        .expect("the backup is on the IPFS node");
    let key = BackupKey::from_hex(&network.backup_key()).expect("the network's key");
    backups::open(&bytes, &key, &network.genesis.config, Some(record)).expect("it verifies")
}

#[test]
fn old_blocks_move_to_kv_are_pruned_and_read_the_same() {
    let mut network = Network::start_with(NetworkOptions::default());
    let mut transfers = Transfers::new(&network);
    let blocks = LOCAL_HOT_BLOCKS as usize + 6;
    let hashes = commit_blocks(&network, &mut transfers, blocks);
    let head = network.client.status().head_height;
    assert!(head >= blocks as u64, "head {head}");
    let before = reads(&network, head, &hashes);

    let report = run_archiver(&network);
    let last_cold = head - LOCAL_HOT_BLOCKS;
    assert_eq!(report.archived, Some((1, last_cold)), "{report:?}");
    assert_eq!(report.archive.archived_through, last_cold);
    // Every read answers exactly as before, from KV for the archived blocks.
    assert_eq!(reads(&network, head, &hashes), before);
    // A second run finds nothing new to move.
    assert_eq!(run_archiver(&network).archived, None);

    // The archived blocks really left the sequencer: without the KV namespace they are gone,
    // while the hot ones still answer from the sequencer.
    network.restart_deleting_kv(&["ARCHIVE"]);
    let cold = network.client.get("/v1/blocks/1");
    assert_eq!(
        (cold.status, cold.error_code().as_str()),
        (503, "archive_unavailable")
    );
    assert_eq!(
        network.client.get(&format!("/v1/blocks/{head}")).status,
        200
    );
    let hot_tx = hashes.last().expect("a transaction");
    assert_eq!(
        network.client.transaction(hot_tx).status,
        TxState::Committed
    );
}

#[test]
fn a_backup_is_pinned_indexed_and_decrypts_to_the_committed_state() {
    for pinning in [Pinning::Kubo, Pinning::Pinata] {
        let network = Network::start_with(NetworkOptions {
            pinning,
            ..NetworkOptions::default()
        });
        let mut transfers = Transfers::new(&network);
        commit_blocks(&network, &mut transfers, 3);
        let record = back_up(&network);
        let status = network.client.status();
        assert_eq!(record.height, status.head_height, "{pinning:?}");
        assert_eq!(record.block_hash, status.head_hash);
        assert_eq!(index(&network).latest, Some(record.clone()));

        let state = open_backup(&network, &record);
        assert_eq!(state.height, record.height);
        let backed_up: BTreeMap<Address, (u64, U256)> = state
            .accounts
            .iter()
            .map(|account| (account.address, (account.nonce, account.balance)))
            .collect();
        for (address, expected) in &transfers.expected {
            assert_eq!(
                backed_up.get(address),
                Some(&(expected.nonce, expected.balance)),
                "{address} ({pinning:?})"
            );
        }
        assert_eq!(
            state.total_supply,
            network.genesis.total_supply().expect("valid genesis")
        );
        // Nothing new committed: a forced backup has nothing to add.
        let again = network.admin("POST", "/v1/admin/backups", None);
        let report: RunReport = again.json();
        assert!(
            report.backup.is_none() && report.backup_skipped.is_some(),
            "{report:?}"
        );
    }
}

#[test]
fn the_disaster_drill_restores_every_account_and_the_chain_goes_on() {
    let mut network = Network::start_with(NetworkOptions {
        validators: 4,
        shards: 4,
        ..NetworkOptions::default()
    });
    let mut transfers = Transfers::new(&network);
    commit_blocks(&network, &mut transfers, 4);
    let record = back_up(&network);
    let backed_up = open_backup(&network, &record);
    let shards: std::collections::BTreeSet<u16> = backed_up
        .accounts
        .iter()
        .map(|account| network.genesis.config.layout().shard_of(&account.address))
        .collect();
    assert_eq!(shards.len(), 4, "the transfers reached every shard");

    // Everything local is destroyed except the backup index (and the off-site IPFS node).
    network.restart_destroying_all_but_the_index();
    assert_eq!(
        network.client.status().head_height,
        0,
        "a chain with no memory"
    );
    // The operator restores with the ops tool: it fetches the backup, verifies it against the
    // index, writes the state out, then asks the chain to restore it.
    let out = network.dir().join("drill.json");
    let pushed = std::process::Command::new(env!("CARGO_BIN_EXE_ops"))
        .arg("restore")
        .arg(&record.cid)
        .args(["--dir", &network.dir().display().to_string()])
        .args([
            "--url",
            network.client.base(),
            "--ipfs-api",
            &network.ipfs_api_url(),
        ])
        .args(["--push", "--out"])
        .arg(&out)
        .output()
        .expect("ops runs");
    let stderr = String::from_utf8_lossy(&pushed.stderr);
    assert!(pushed.status.success(), "{stderr}");
    assert!(stderr.contains("the chain restored it"), "{stderr}");
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out).expect("written")).expect("JSON");
    assert_eq!(written["height"], record.height);
    assert_eq!(
        written["accounts"].as_array().map(Vec::len),
        Some(backed_up.accounts.len())
    );

    let status = network.client.status();
    assert_eq!(
        (status.head_height, status.head_hash),
        (record.height, record.block_hash)
    );
    assert!(!status.paused, "production resumed after the restore");
    for account in &backed_up.accounts {
        let now = network.client.account(&account.address, false);
        assert_eq!(
            (now.nonce, now.balance),
            (account.nonce, account.balance),
            "{}",
            account.address
        );
    }
    // The restored chain takes new transfers (with the nonces the backup holds) and commits.
    let hashes = commit_blocks(&network, &mut transfers, 2);
    assert!(network.client.status().head_height > record.height);
    transfers.assert_on_chain(&network, "after the restore");
    let proof = network.client.account(&network.address(0), true);
    let verified = proof.proof.expect("asked for a proof").verify(
        &network.genesis.config.validators,
        network.genesis.config.chain_id,
        &network.address(0),
    );
    assert!(verified.is_ok(), "{verified:?}");
    assert_eq!(
        network.client.transaction(&hashes[0]).status,
        TxState::Committed
    );
}

#[test]
fn restores_of_anything_but_the_intact_latest_backup_are_refused_and_change_nothing() {
    let mut network = Network::start_with(NetworkOptions {
        pinning: Pinning::Pinata,
        ..NetworkOptions::default()
    });
    let mut transfers = Transfers::new(&network);
    // Before any backup there is no index to restore from.
    let answer = restore(&network, "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG");
    assert_eq!(
        (answer.status, answer.error_code().as_str()),
        (409, "no_backup_index")
    );

    commit_blocks(&network, &mut transfers, 2);
    let older = back_up(&network);
    commit_blocks(&network, &mut transfers, 2);
    let latest = back_up(&network);
    let unchanged = |network: &Network| {
        let status = network.client.status();
        assert_eq!(
            (status.head_height, status.head_hash),
            (latest.height, latest.block_hash)
        );
        let account = network.client.account(&network.address(0), false);
        let expected = transfers.expected[&network.address(0)];
        assert_eq!(
            (account.nonce, account.balance),
            (expected.nonce, expected.balance)
        );
    };

    let no_token = network.client.send(
        "POST",
        "/v1/admin/restore",
        &[("content-type", "application/json")],
        Some(format!("{{\"cid\":\"{}\"}}", latest.cid).as_bytes()),
    );
    assert_eq!(
        (no_token.status, no_token.error_code().as_str()),
        (401, "unauthorized")
    );
    let answer = restore(&network, &older.cid);
    assert_eq!(
        (answer.status, answer.error_code().as_str()),
        (409, "not_latest_backup")
    );
    let answer = restore(&network, "../../etc/passwd");
    assert_eq!(
        (answer.status, answer.error_code().as_str()),
        (400, "invalid_cid")
    );
    let answer = network.admin("POST", "/v1/admin/restore", Some(b"{\"cid\": 5}"));
    assert_eq!(
        (answer.status, answer.error_code().as_str()),
        (400, "malformed_json")
    );
    unchanged(&network);

    // The gateway serves the latest backup with one byte flipped: the digest gives it away.
    network.pinata_tamper(&latest.cid, true);
    let answer = restore(&network, &latest.cid);
    assert_eq!(
        (answer.status, answer.error_code().as_str()),
        (422, "backup_digest_mismatch")
    );
    network.pinata_tamper(&latest.cid, false);
    unchanged(&network);

    // Another key does not open it.
    network.restart_with_backup_key(&format!("0x{}", "42".repeat(32)));
    let answer = restore(&network, &latest.cid);
    assert_eq!(
        (answer.status, answer.error_code().as_str()),
        (422, "backup_authentication_failed")
    );
    unchanged(&network);

    // With more blocks on top, restoring even the latest backup would roll the chain back.
    network.restart_with_backup_key(&network.original_backup_key());
    commit_blocks(&network, &mut transfers, 1);
    let answer = restore(&network, &latest.cid);
    assert_eq!(
        (answer.status, answer.error_code().as_str()),
        (409, "restore_would_roll_back")
    );
}

#[test]
fn the_local_network_runs_the_archiver_by_itself_and_ops_reads_its_backups() {
    let network = Network::start_with(NetworkOptions {
        archive_every: Some(Duration::from_secs(2)),
        ..NetworkOptions::default()
    });
    let mut transfers = Transfers::new(&network);
    commit_blocks(&network, &mut transfers, 2);
    // The first backup is due as soon as there is a block: the timer makes it.
    let deadline = Instant::now() + Duration::from_secs(60);
    let latest = loop {
        if let Some(latest) = index(&network).latest {
            break latest;
        }
        assert!(Instant::now() < deadline, "no backup within a minute");
        std::thread::sleep(Duration::from_millis(500));
    };

    // `ops backups list` shows it; `ops restore` fetches, verifies and writes the state out.
    let ops = env!("CARGO_BIN_EXE_ops");
    let dir = network.dir().display().to_string();
    let listed = std::process::Command::new(ops)
        .args([
            "backups",
            "list",
            "--json",
            "--dir",
            &dir,
            "--url",
            network.client.base(),
        ])
        .output()
        .expect("ops runs");
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let listed: BackupIndex = serde_json::from_slice(&listed.stdout).expect("the index as JSON");
    assert_eq!(listed.latest.as_ref().map(|r| &r.cid), Some(&latest.cid));

    let out = network.dir().join("restored.json");
    let restored = std::process::Command::new(ops)
        .args([
            "restore",
            &latest.cid,
            "--dir",
            &dir,
            "--url",
            network.client.base(),
        ])
        .args(["--ipfs-api", &network.ipfs_api_url(), "--out"])
        .arg(&out)
        .output()
        .expect("ops runs");
    assert!(
        restored.status.success(),
        "{}",
        String::from_utf8_lossy(&restored.stderr)
    );
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out).expect("written")).expect("JSON");
    assert_eq!(state["height"], latest.height);
    assert_eq!(state["block_hash"], latest.block_hash.to_string());
    assert!(
        state["accounts"]
            .as_array()
            .is_some_and(|a| a.len() as u64 == latest.accounts)
    );

    // A wrong key is refused by the tool too.
    let refused = std::process::Command::new(ops)
        .args([
            "restore",
            &latest.cid,
            "--dir",
            &dir,
            "--url",
            network.client.base(),
        ])
        .args(["--ipfs-api", &network.ipfs_api_url(), "--out"])
        .arg(network.dir().join("never.json"))
        .env("BACKUP_ENCRYPTION_KEY", format!("0x{}", "11".repeat(32)))
        .output()
        .expect("ops runs");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("wrong key"));
}

#[test]
fn backups_beyond_the_retention_are_unpinned_and_leave_the_index() {
    let network = Network::start_with(NetworkOptions::default());
    let mut transfers = Transfers::new(&network);
    let retention = ops::devnet::LOCAL_BACKUP_RETENTION as usize;
    let mut made = Vec::new();
    let mut unpinned = Vec::new();
    for _ in 0..=retention {
        commit_blocks(&network, &mut transfers, 1);
        let answer = network.admin("POST", "/v1/admin/backups", None);
        let report: RunReport = answer.json();
        made.push(report.backup.expect("a backup after a new block"));
        unpinned.extend(report.unpinned);
    }
    let index = index(&network);
    assert_eq!(index.latest.as_ref(), made.last());
    assert_eq!(index.history.len(), retention - 1);
    let kept: Vec<u64> = index.history.iter().map(|record| record.height).collect();
    let expected: Vec<u64> = made[1..retention].iter().rev().map(|r| r.height).collect();
    assert_eq!(kept, expected, "newest first, the oldest dropped");
    assert_eq!(unpinned, vec![made[0].cid.clone()]);
    assert!(
        !is_pinned(&network, &made[0].cid),
        "the dropped backup is unpinned"
    );
    assert!(is_pinned(&network, &made[retention].cid));
    // The dropped backup can no longer be restored; it is not even in the index.
    let answer = restore(&network, &made[0].cid);
    assert_eq!(
        (answer.status, answer.error_code().as_str()),
        (409, "not_latest_backup")
    );
}

/// Whether the network's IPFS node holds a pin of `cid` (`pin/ls` answers an error if not).
fn is_pinned(network: &Network, cid: &str) -> bool {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent
        .post(format!(
            "{}/api/v0/pin/ls?arg={cid}",
            network.ipfs_api_url()
        ))
        .send_empty()
        .expect("the IPFS node answers");
    let body = response.body_mut().read_to_string().unwrap_or_default();
    response.status() == 200 && body.contains(cid)
}
