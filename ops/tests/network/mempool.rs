//! A full mempool on the real runtime: transfers that wait behind nonce gaps their senders
//! never fill cannot hold it against a transfer that could go into a block.

use std::time::{Duration, Instant};

use ledger::api::TxState;
use ledger::limits::{MEMPOOL_TXS_MAX, SENDER_QUEUE_TXS_MAX};
use ledger::primitives::{Address, U256, keccak256};
use ledger::signature::SecretKey;
use ledger::transaction::Submission;

use crate::COMMIT_TIMEOUT;
use crate::harness::{Network, Transfers, keyed_transfer, seeded_key, submit_all_accepted};
use crate::metrics::{scrape, value};

/// How long the `Sequencer` may take to learn every gapped sender's nonce (a round each).
const LEARN_TIMEOUT: Duration = Duration::from_secs(90);

#[test]
fn a_mempool_full_of_transfers_behind_nonce_gaps_still_takes_one_that_can_go() {
    let network = Network::start(1, 2);
    let chain_id = network.genesis.config.chain_id;
    // Unfunded keys, each with a full queue of transfers from nonce 1: their nonce 0 never
    // comes, and together they fill the mempool.
    let senders = MEMPOOL_TXS_MAX / SENDER_QUEUE_TXS_MAX;
    let keys: Vec<SecretKey> = (1..=senders as u64)
        .map(|seed| seeded_key(0x9a, seed))
        .collect();
    let waiting: Vec<Vec<Submission>> = keys
        .iter()
        .map(|key| {
            (1..=SENDER_QUEUE_TXS_MAX as u64)
                .map(|nonce| keyed_transfer(key, chain_id, nonce, Address([0x66; 20])))
                .collect()
        })
        .collect();
    submit_all_accepted(&network, &waiting.concat());
    let full = scrape(&network);
    assert_eq!(
        value(&full, "edgeledger_mempool_transactions"),
        MEMPOOL_TXS_MAX as f64
    );

    // A development account's next transfer is refused while the `Sequencer` does not know
    // the gapped senders' nonces (each is tried in a round, which teaches it), then admitted
    // in place of one that waits.
    let mut transfers = Transfers::new(&network);
    let ready = transfers.transfer(0, Address([0x77; 20]), U256::from(1_000u64));
    let started = Instant::now();
    let hash = loop {
        let answer = network.client.submit_one(&ready);
        if answer.status == 202 {
            break answer.json::<ledger::api::SubmissionResult>().hash;
        }
        assert_eq!(
            (answer.status, answer.error_code().as_str()),
            (503, "mempool_full"),
            "{}",
            answer.text()
        );
        assert!(started.elapsed() < LEARN_TIMEOUT, "never admitted");
        std::thread::sleep(Duration::from_millis(250));
    };
    network.client.wait_committed(&[hash], COMMIT_TIMEOUT);

    // Exactly one waiting transfer made room: some sender's highest nonce, now dropped as
    // evicted; every other highest nonce still waits.
    let highest: Vec<_> = waiting
        .iter()
        .map(|queue| {
            network
                .client
                .transaction(&keccak256(&queue.last().expect("queued").raw))
        })
        .collect();
    let evicted: Vec<_> = highest
        .iter()
        .filter(|status| status.status == TxState::Rejected)
        .collect();
    assert_eq!(evicted.len(), 1, "{highest:?}");
    let reason = evicted[0].reason.as_ref().expect("a reason");
    assert_eq!(reason.code, "evicted");
    let still_waiting = highest
        .iter()
        .filter(|status| status.status == TxState::Pending)
        .count();
    assert_eq!(still_waiting, senders - 1);
    let after = scrape(&network);
    assert_eq!(
        value(
            &after,
            "edgeledger_transactions_dropped_total{reason=\"evicted\"}"
        ),
        1.0
    );
    assert_eq!(
        value(&after, "edgeledger_mempool_transactions"),
        (MEMPOOL_TXS_MAX - 1) as f64
    );
}
