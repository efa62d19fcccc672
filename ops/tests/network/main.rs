//! End-to-end tests against the live local network: real workerd (through wrangler), real
//! Durable Object storage, real HTTP. Each test starts its own network in a fresh folder on a
//! free port, so they are independent; run them one at a time (`--test-threads=1`): each
//! network is CPU-bound and the machine has two cores.
//!
//! Needs the Workers built (`scripts/build-workers.sh`); `scripts/test.sh` does that first.
#![allow(
    clippy::panic,
    reason = "a test reports a failed expectation by panicking"
)]
#![allow(unreachable_pub, reason = "helper modules of one test binary")]

mod archive;
mod bench;
mod client;
mod dashboard;
mod endpoints;
mod faults;
mod harness;
mod memory;
mod mempool;
mod metrics;
mod ops_cli;
mod pinning;
mod rpc;
mod security;
mod upgrade;

use std::collections::BTreeMap;
use std::time::Duration;

use ledger::api::{SubmissionStatus, TxState};
use ledger::limits::BATCH_TXS_MAX;
use ledger::primitives::{Address, U256};
use ledger::random::SplitMix64;
use ledger::transaction::Submission;

use harness::{Network, Transfers};

/// How long a batch of transfers may take to commit on a loaded two-core machine.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(90);

#[test]
fn transfers_within_and_across_shards_commit_and_conserve_the_supply() {
    let network = Network::start(4, 4);
    let mut transfers = Transfers::new(&network);
    let mut random = SplitMix64::new(7);
    let mut raws = Vec::new();
    for round in 0..3 {
        for sender in 0..network.keys.len() {
            // Half to other development accounts, half to fresh addresses in any shard.
            let to = if random.chance(50) {
                network.address(random.below(network.keys.len() as u64) as usize)
            } else {
                random_address(&mut random)
            };
            let value = U256::from(1_000_000u64 + round * 1_000 + sender as u64);
            raws.push(transfers.transfer(sender, to, value));
        }
    }
    // Three in four transfers name their sender's key (the front door checks those together
    // instead of recovering each sender), in both forms it takes, one of them with its
    // signature's nonce y too.
    let senders = (0..network.keys.len()).cycle();
    let submissions: Vec<Submission> = raws
        .into_iter()
        .zip(senders)
        .enumerate()
        .map(|(index, (raw, sender))| {
            let xy = network.keys[sender].public_key().to_xy();
            match index % 4 {
                0 => Submission::with_key(raw, xy.to_vec()),
                1 => Submission::raw(raw),
                2 => Submission::with_key(raw, [&[0x04][..], &xy].concat()),
                _ => Submission {
                    nonce_y: Some(nonce_y_of(&raw, network.genesis.config.chain_id).to_vec()),
                    ..Submission::with_key(raw, xy.to_vec())
                },
            }
        })
        .collect();
    let results = network.client.submit_keyed_batch(&submissions);
    assert!(
        results
            .iter()
            .all(|result| result.status == SubmissionStatus::Accepted),
        "{results:?}"
    );
    let hashes: Vec<_> = results.iter().map(|result| result.hash).collect();
    network.client.wait_committed(&hashes, COMMIT_TIMEOUT);

    // Every touched account holds exactly what the transfers say, and nothing was created.
    let shards: std::collections::BTreeSet<u16> = transfers
        .expected
        .keys()
        .map(|address| network.genesis.config.layout().shard_of(address))
        .collect();
    assert!(shards.len() > 1, "the transfers touched only one shard");
    transfers.assert_on_chain(&network, "");
    let supply: U256 = transfers
        .expected
        .keys()
        .map(|address| network.client.account(address, false).balance)
        .fold(U256::ZERO, |sum, balance| sum + balance);
    assert_eq!(
        supply,
        network.genesis.total_supply().expect("valid genesis")
    );
    let block = network.client.latest_block();
    assert!(block.header.height >= 1);
    assert_eq!(
        block.certificate.block_hash, block.hash,
        "the head carries its own certificate"
    );

    // The Workers run without wrangler's DevTools proxy (ops/src/devnet: it copied every call
    // between them into Node). Were a wrangler upgrade to bring it back, its Network events
    // would show in the debug log, next to the Workers' own log lines (those of a process
    // that runs several Workers, as the even validators' does here, each line prefixed with
    // its Worker's name).
    let debug_log = std::fs::read_to_string(network.dir().join("wrangler-debug.log"))
        .expect("the network's wrangler debug log");
    assert!(
        debug_log.contains("[edgeledger-validator-v0]"),
        "the debug log holds the Workers' log lines"
    );
    assert!(
        !debug_log.contains("Network.requestWillBeSent"),
        "wrangler's DevTools proxy is connected again"
    );
}

#[test]
fn a_nonce_gap_waits_duplicates_are_idempotent_and_bad_input_is_refused() {
    let network = Network::start(1, 2);
    let client = &network.client;
    let mut transfers = Transfers::new(&network);
    let to = random_address(&mut SplitMix64::new(3));
    let first = transfers.transfer(0, to, U256::from(5u64));
    let second = transfers.transfer(0, to, U256::from(6u64));

    // The later nonce is accepted and waits while the gap is open.
    let answer = client.submit_one(&second);
    assert_eq!(
        answer.status,
        202,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let second_hash = answer.json::<ledger::api::SubmissionResult>().hash;
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(client.transaction(&second_hash).status, TxState::Pending);
    assert_eq!(client.account(&network.address(0), false).nonce, 0);

    // Filling the gap commits both; submitting either again changes nothing. The single
    // endpoint takes a sender key and a nonce y too: a wrong key or another signature's y is
    // refused, the right ones (the key as SEC1, the form Ethereum libraries print) admit the
    // transfer.
    let key_of = |index: usize| network.keys[index].public_key().to_xy();
    let answer = client.submit_one_with_key(&first, Some(&key_of(1)));
    assert_eq!(
        (answer.status, answer.error_code().as_str()),
        (422, "signature_mismatch")
    );
    let chain_id = network.genesis.config.chain_id;
    let sec1_key = [&[0x04][..], &key_of(0)].concat();
    let answer = client.submit_one_with(
        &first,
        Some(&sec1_key),
        Some(&nonce_y_of(&second, chain_id)),
    );
    assert_eq!(
        (answer.status, answer.error_code().as_str()),
        (422, "nonce_y_mismatch")
    );
    let answer =
        client.submit_one_with(&first, Some(&sec1_key), Some(&nonce_y_of(&first, chain_id)));
    assert_eq!(answer.status, 202);
    let first_hash = answer.json::<ledger::api::SubmissionResult>().hash;
    assert_eq!(client.submit_one(&first).status, 200, "a pending duplicate");
    client.wait_final(&[first_hash, second_hash], COMMIT_TIMEOUT);
    assert_eq!(client.transaction(&second_hash).status, TxState::Committed);
    let duplicate = client.submit_batch(&[first.clone(), second.clone()]);
    assert!(
        duplicate
            .iter()
            .all(|result| result.status == SubmissionStatus::Duplicate)
    );
    let account = client.account(&network.address(0), false);
    assert_eq!(account.nonce, 2);
    assert_eq!(client.account(&to, false).balance, U256::from(11u64));

    // A bad signature, another chain, malformed and oversized bodies: precise errors.
    // (Flipping a bit of a signature usually gives a valid signature of another sender; an
    // `s` past the curve order is a signature no key made.)
    let mut bad_signature =
        transfers.transfer_on_chain(1, network.genesis.config.chain_id, to, U256::from(1u64));
    let length = bad_signature.len();
    bad_signature[length - 32..].fill(0xff);
    let answer = client.submit_one(&bad_signature);
    assert_eq!(
        answer.status,
        422,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    // A sender key that did not sign its transfer, and one that is no key: refused each,
    // precisely, in an answer of 200 for the batch.
    let signed_by_1 =
        transfers.transfer_on_chain(1, network.genesis.config.chain_id, to, U256::ONE);
    let key_of_2 = network.keys[2].public_key().to_xy().to_vec();
    // And a nonce y that is not its signature's, and one that is not 32 bytes.
    let key_of_1 = network.keys[1].public_key().to_xy().to_vec();
    let signed_by_2 =
        transfers.transfer_on_chain(2, network.genesis.config.chain_id, to, U256::ONE);
    let other_nonce_y = nonce_y_of(&signed_by_2, network.genesis.config.chain_id);
    let results = client.submit_keyed_batch(&[
        Submission::with_key(signed_by_1.clone(), key_of_2),
        Submission::with_key(signed_by_1.clone(), vec![0x04; 20]),
        Submission {
            nonce_y: Some(other_nonce_y.to_vec()),
            ..Submission::with_key(signed_by_1.clone(), key_of_1.clone())
        },
        Submission {
            nonce_y: Some(vec![1; 31]),
            ..Submission::with_key(signed_by_1, key_of_1)
        },
    ]);
    let codes: Vec<&str> = results
        .iter()
        .map(|result| {
            result
                .reason
                .as_ref()
                .map_or("", |reason| reason.code.as_str())
        })
        .collect();
    assert_eq!(
        codes,
        [
            "signature_mismatch",
            "invalid_sender_key",
            "nonce_y_mismatch",
            "invalid_nonce_y"
        ]
    );
    let wrong_chain = transfers.transfer_on_chain(1, 1, to, U256::from(1u64));
    let answer = client.submit_one(&wrong_chain);
    assert_eq!(
        (answer.status, answer.error_code().as_str()),
        (422, "wrong_chain_id")
    );
    let answer = client.send(
        "POST",
        "/v1/txs",
        &[("content-type", "application/msgpack")],
        Some(b"\xc1 not msgpack"),
    );
    assert_eq!(
        (answer.status, answer.error_code().as_str()),
        (400, "malformed_body")
    );
    let answer = client.send(
        "POST",
        "/v1/tx",
        &[("content-type", "application/json")],
        Some(b"{\"raw\": 12"),
    );
    assert_eq!(
        (answer.status, answer.error_code().as_str()),
        (400, "malformed_json")
    );
    let oversized = vec![first.clone(); BATCH_TXS_MAX + 1];
    let answer = client.submit_batch_raw(&oversized);
    assert_eq!(
        (answer.status, answer.error_code().as_str()),
        (413, "batch_too_large")
    );
    let answer = client.send(
        "POST",
        "/v1/txs",
        &[("content-type", "text/plain")],
        Some(b"x"),
    );
    assert_eq!(
        (answer.status, answer.error_code().as_str()),
        (415, "unsupported_media_type")
    );
    let answer = client.send("DELETE", "/v1/status", &[], None);
    assert_eq!(
        (answer.status, answer.error_code().as_str()),
        (405, "method_not_allowed")
    );
    let answer = client.get("/v1/nothing");
    assert_eq!(
        (answer.status, answer.error_code().as_str()),
        (404, "not_found")
    );
    let answer = client.set_fault("wrong-token", 0, "down");
    assert_eq!(
        (answer.status, answer.error_code().as_str()),
        (401, "unauthorized")
    );
    assert!(answer.content_type.starts_with("application/json"));

    // MessagePack when asked for: the same answer, as a map with binary hashes.
    let answer = client.send(
        "GET",
        "/v1/status",
        &[("accept", "application/msgpack")],
        None,
    );
    assert_eq!(answer.status, 200);
    assert!(answer.content_type.starts_with("application/msgpack"));
    let status: ledger::api::StatusAnswer =
        rmp_serde::from_slice(&answer.body).expect("a MessagePack status");
    assert_eq!(status, client.status());

    // None of that changed the chain.
    assert_eq!(client.account(&network.address(1), false).nonce, 0);
    assert_eq!(client.account(&network.address(0), false), account);
}

#[test]
fn a_block_request_may_wait_for_its_block_and_is_answered_as_it_commits() {
    let network = Network::start(1, 2);
    let client = &network.client;
    let mut transfers = Transfers::new(&network);
    let next = client.status().head_height + 1;

    // Nothing is submitted, so nothing commits: the wait runs out and the block is unknown.
    let answer = client.get(&format!("/v1/blocks/{next}?wait_ms=300"));
    assert_eq!(
        (answer.status, answer.error_code().as_str()),
        (404, "not_found")
    );

    // Asked with a long wait, the next block is answered when a transfer commits in it, well
    // before the wait runs out (the answer after a wait that ran out would be the same block,
    // so the time tells the two apart).
    let wait_ms = 10_000;
    let transfer = transfers.transfer(0, network.address(1), U256::from(7u64));
    let (answer, waited) = std::thread::scope(|scope| {
        let waiting = scope.spawn(|| {
            let started = std::time::Instant::now();
            let answer = client.get(&format!("/v1/blocks/{next}?wait_ms={wait_ms}"));
            (answer, started.elapsed())
        });
        std::thread::sleep(Duration::from_millis(500));
        assert!(
            !waiting.is_finished(),
            "answered before anything was submitted"
        );
        assert_eq!(client.submit_one(&transfer).status, 202);
        waiting.join().expect("the waiting request")
    });
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert!(
        waited < Duration::from_millis(wait_ms),
        "answered only when the wait ran out ({waited:?})"
    );
    let block: ledger::api::BlockAnswer = answer.json();
    assert_eq!(block.header.height, next);
    assert_eq!(
        block.transactions,
        vec![ledger::primitives::keccak256(&transfer)]
    );

    // A committed block is answered at once, whatever the wait; latest and hashes are not
    // waited for, and waits past the limit are refused.
    let answer = client.get(&format!("/v1/blocks/{next}?wait_ms={wait_ms}"));
    assert_eq!(answer.json::<ledger::api::BlockAnswer>(), block);
    for path in [
        "/v1/blocks/latest?wait_ms=100".to_owned(),
        format!("/v1/blocks/{}?wait_ms=100", block.hash),
        format!("/v1/blocks/{next}?wait_ms=10001"),
    ] {
        let answer = client.get(&path);
        assert_eq!(
            (answer.status, answer.error_code().as_str()),
            (400, "invalid_query"),
            "{path}"
        );
    }
}

#[test]
fn two_gateways_share_the_api_port_and_every_transfer_through_either_commits() {
    let mut network = Network::start_with(harness::NetworkOptions {
        gateways: 2,
        ..harness::NetworkOptions::default()
    });
    let mut transfers = Transfers::new(&network);
    let to = random_address(&mut SplitMix64::new(11));
    let round = |network: &Network, transfers: &mut Transfers| {
        // One batch a sender, each from a client of its own (a connection of its own), at once.
        let batches: Vec<Vec<u8>> = (0..4)
            .map(|sender| transfers.transfer(sender, to, U256::from(1_000u64 + sender as u64)))
            .collect();
        let hashes: Vec<_> = std::thread::scope(|scope| {
            let sending: Vec<_> = batches
                .iter()
                .map(|raw| {
                    scope.spawn(|| {
                        let client = client::Client::new(network.client.base());
                        let results = client.submit_batch(std::slice::from_ref(raw));
                        assert_eq!(results[0].status, SubmissionStatus::Accepted);
                        results[0].hash
                    })
                })
                .collect();
            sending
                .into_iter()
                .map(|thread| thread.join().expect("a sender"))
                .collect()
        });
        network.client.wait_committed(&hashes, COMMIT_TIMEOUT);
    };
    round(&network, &mut transfers);
    let handed = network.gateway_connections();
    assert_eq!(handed.len(), 2);
    assert!(
        handed.iter().all(|&count| count > 0),
        "each gateway served: {handed:?}"
    );
    // After a restart the balancer takes the API's port again and the chain goes on.
    network.restart();
    round(&network, &mut transfers);
    transfers.assert_on_chain(&network, "");
}

#[test]
fn a_restart_keeps_committed_state_and_every_acknowledged_transaction() {
    let mut network = Network::start(4, 4);
    let mut transfers = Transfers::new(&network);
    let mut random = SplitMix64::new(11);
    let (mut acknowledged, mut sent) = (Vec::new(), Vec::new());
    for batch in 0..6 {
        if batch == 3 {
            // Mid-stream: the whole local network goes down and comes back.
            network.restart();
        }
        let raws: Vec<Vec<u8>> = (0..network.keys.len())
            .map(|sender| {
                transfers.transfer(sender, random_address(&mut random), U256::from(1_000u64))
            })
            .collect();
        for result in network.client.submit_batch(&raws) {
            assert_eq!(result.status, SubmissionStatus::Accepted, "{result:?}");
            acknowledged.push(result.hash);
        }
        sent.extend(raws);
    }
    let before = network.client.status().head_height;
    network.restart();
    network.client.wait_committed(&acknowledged, COMMIT_TIMEOUT);
    assert!(network.client.status().head_height >= before);
    // The restarted `Sequencer` read back which recent locations were not yet in its index:
    // every transaction is found committed again, and sent again is a duplicate.
    network.restart();
    network.client.wait_committed(&acknowledged, COMMIT_TIMEOUT);
    let again = network.client.submit_batch(&sent);
    assert!(
        again
            .iter()
            .all(|result| result.status == SubmissionStatus::Duplicate),
        "{again:?}"
    );
    for (address, expected) in &transfers.expected {
        let account = network.client.account(address, false);
        assert_eq!(
            (account.balance, account.nonce),
            (expected.balance, expected.nonce)
        );
    }
}

#[test]
fn one_faulty_validator_of_four_is_tolerated_two_halt_the_chain_until_they_return() {
    let network = Network::start(4, 2);
    let client = &network.client;
    let mut transfers = Transfers::new(&network);
    let to = random_address(&mut SplitMix64::new(5));

    // One validator down, then one returning garbage: blocks still commit.
    for (index, mode) in [(3, "down"), (3, "garbage")] {
        let answer = client.set_fault(&network.admin_token, index, mode);
        assert_eq!(
            answer.status,
            200,
            "{}",
            String::from_utf8_lossy(&answer.body)
        );
        let results = client.submit_batch(&[transfers.transfer(0, to, U256::from(1u64))]);
        client.wait_final(&[results[0].hash], COMMIT_TIMEOUT);
        assert_eq!(
            client.transaction(&results[0].hash).status,
            TxState::Committed
        );
    }

    // Two of four faulty: no quorum, nothing commits...
    let answer = client.set_fault(&network.admin_token, 2, "down");
    assert_eq!(answer.status, 200);
    let height = client.status().head_height;
    let results = client.submit_batch(&[transfers.transfer(0, to, U256::from(1u64))]);
    let stuck = results[0].hash;
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(client.transaction(&stuck).status, TxState::Pending);
    assert_eq!(client.status().head_height, height);

    // ...until they return: the same proposal then gathers a quorum.
    for index in [2, 3] {
        assert_eq!(
            client
                .set_fault(&network.admin_token, index, "healthy")
                .status,
            200
        );
    }
    client.wait_final(&[stuck], COMMIT_TIMEOUT);
    assert_eq!(client.transaction(&stuck).status, TxState::Committed);
    let block = client.latest_block();
    assert!(block.certificate.votes.len() >= 3);
    assert_eq!(client.account(&to, false).balance, U256::from(3u64));
}

#[test]
fn validators_never_sign_a_second_block_at_a_height_even_for_a_sequencer_that_forgot() {
    let mut network = Network::start(4, 1);
    let mut transfers = Transfers::new(&network);
    let to = random_address(&mut SplitMix64::new(21));
    let results = network
        .client
        .submit_batch(&[transfers.transfer(0, to, U256::from(1u64))]);
    network
        .client
        .wait_final(&[results[0].hash], COMMIT_TIMEOUT);
    assert_eq!(network.client.status().head_height, 1);

    // The sequencer and the shards lose everything: the sequencer starts over from genesis and
    // proposes another block 1. Every validator already signed a block 1 and must refuse.
    network.restart_forgetting(&["edgeledger-sequencer-Sequencer", "edgeledger-shards-Shard"]);
    assert_eq!(network.client.status().head_height, 0);
    let other =
        transfers.transfer_on_chain(1, network.genesis.config.chain_id, to, U256::from(2u64));
    let results = network.client.submit_batch(&[other]);
    assert_eq!(results[0].status, SubmissionStatus::Accepted);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !network.log().contains("guard_refused") {
        assert!(
            std::time::Instant::now() < deadline,
            "no validator refused the second block 1"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        network.client.status().head_height,
        0,
        "a second block 1 was certified"
    );
    assert_eq!(
        network.client.transaction(&results[0].hash).status,
        TxState::Pending
    );
}

#[test]
fn an_account_proof_from_the_api_verifies_against_the_certified_header() {
    let network = Network::start(4, 4);
    let mut transfers = Transfers::new(&network);
    let to = random_address(&mut SplitMix64::new(9));
    let results = network
        .client
        .submit_batch(&[transfers.transfer(2, to, U256::from(77u64))]);
    network
        .client
        .wait_final(&[results[0].hash], COMMIT_TIMEOUT);
    let config = &network.genesis.config;
    for address in [
        network.address(2),
        to,
        random_address(&mut SplitMix64::new(10)),
    ] {
        let answer = network.client.account(&address, true);
        let proof = answer.proof.clone().expect("a proof was asked for");
        assert!(proof.header.height >= 1, "proof against a certified block");
        let proven = proof
            .verify(&config.validators, config.chain_id, &address)
            .expect("the proof verifies");
        let proven = proven.unwrap_or_default();
        assert_eq!(
            (proven.nonce, proven.balance),
            (answer.nonce, answer.balance)
        );
        // A tampered header no longer verifies.
        let mut tampered = proof.clone();
        tampered.header.state_root = ledger::primitives::Hash([1; 32]);
        assert!(
            tampered
                .verify(&config.validators, config.chain_id, &address)
                .is_err()
        );
    }
}

/// The y of the nonce point of `raw`'s signature, as a client that signed it works it out.
fn nonce_y_of(raw: &[u8], chain_id: u64) -> [u8; 32] {
    let signed = ledger::transaction::decode(raw, chain_id).expect("decodes");
    signed.signature().nonce_y().expect("a nonce point").0
}

fn random_address(random: &mut SplitMix64) -> Address {
    let mut bytes = [0u8; 20];
    for chunk in bytes.chunks_mut(8) {
        let word = random.next_u64().to_be_bytes();
        chunk.copy_from_slice(&word[..chunk.len()]);
    }
    Address(bytes)
}

/// Balances and nonces the test expects, by address.
type Expected = BTreeMap<Address, ledger::state::Account>;
