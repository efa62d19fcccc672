//! Replays the committed seed corpus, and any crash inputs kept in `fuzz/artifacts/`, through
//! the targets' checks on a stable compiler: `cargo test --manifest-path fuzz/Cargo.toml`.

use std::path::Path;

use edgeledger_fuzz::corpus::{self, TARGETS};

#[test]
fn committed_corpus_passes_every_check() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut replayed = 0;
    for target in TARGETS {
        for folder in [
            root.join("corpus").join(target),
            root.join("artifacts").join(target),
        ] {
            let Ok(entries) = std::fs::read_dir(&folder) else {
                continue;
            };
            for entry in entries {
                let path = entry.expect("a directory entry").path();
                let bytes = std::fs::read(&path).expect("a corpus file");
                eprintln!("{target}: {}", path.display());
                corpus::check(target, &bytes);
                replayed += 1;
            }
        }
    }
    assert!(replayed > 0, "no corpus under {}", root.display());
}

#[test]
fn committed_corpus_is_what_the_generator_writes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for seed in corpus::seeds() {
        let path = root.join(seed.target).join(&seed.name);
        let committed = std::fs::read(&path).unwrap_or_else(|error| {
            panic!("{}: {error} (run the make_corpus example)", path.display())
        });
        assert!(
            committed == seed.bytes,
            "{} differs from what make_corpus writes",
            path.display()
        );
    }
}

/// The seeds meant to be valid are: otherwise the fuzzer would start from refusals only.
#[test]
fn valid_seeds_decode() {
    use edgeledger_fuzz::{CHAIN_ID, backup_key};
    use ledger::{api, backup, block, codec, consensus, proposal, rpc, snapshot, transaction};

    let seed = |target: &str, name: &str| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("corpus")
            .join(target)
            .join(name);
        std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
    };
    for name in ["legacy.rlp", "access_list.rlp", "dynamic_fee.rlp"] {
        let raw = seed("transaction_decode", name);
        transaction::decode(&raw, CHAIN_ID)
            .and_then(|signed| signed.recover())
            .expect(name);
    }
    for name in ["legacy_chain_max.rlp", "dynamic_fee_chain_max.rlp"] {
        let raw = seed("transaction_decode", name);
        transaction::decode(&raw, u64::MAX)
            .and_then(|signed| signed.recover())
            .expect(name);
    }
    let batch = api::decode_batch(&seed("msgpack_batch", "batch_three.msgpack")).expect("batch");
    assert_eq!(batch.len(), 3);
    let keyed = seed("msgpack_batch", "batch_with_sender_keys.msgpack");
    let keyed = api::decode_batch(&keyed).expect("a batch with sender keys");
    assert_eq!(keyed.iter().filter(|tx| tx.sender_key.is_some()).count(), 2);
    assert!(
        transaction::admit(&keyed, CHAIN_ID)
            .iter()
            .all(Result::is_ok)
    );
    api::decode_single(&seed("msgpack_batch", "single.json")).expect("single");
    let keyed = api::decode_single(&seed("msgpack_batch", "single_with_sender_key.json"))
        .expect("a single transaction with its sender key");
    assert!(keyed.sender_key.is_some());
    assert!(transaction::admit(&[keyed], CHAIN_ID)[0].is_ok());
    match rpc::parse_body(&seed("jsonrpc_request", "batch_every_method.json")) {
        Ok(rpc::RpcBody::Batch(entries)) => {
            let calls = entries
                .iter()
                .filter(|entry| matches!(entry, rpc::RpcEntry::Call { .. }));
            assert!(calls.count() >= 20);
        }
        other => panic!("the batch parsed as {other:?}"),
    }
    for name in ["snapshot.backup", "snapshot_chunks_of_64.backup"] {
        let (header, plaintext) =
            backup::open(&backup_key(), &seed("backup_envelope", name)).expect(name);
        let config = edgeledger_fuzz::corpus::chain_config();
        snapshot::read_verified(&plaintext, config, Some(header.fields)).expect(name);
    }
    ledger::archive::BackupIndex::decode(&seed("backup_envelope", "index_three.json"))
        .expect("index");
    let body = |name: &str| seed("wire_message", name)[1..].to_vec();
    block::Header::decode(&body("header.msgpack")).expect("header");
    block::CertifiedBlock::decode(&body("block_one.msgpack")).expect("block");
    let vote: consensus::Vote = codec::decode_canonical(&body("vote.msgpack"), 128).expect("vote");
    vote.verify(
        &edgeledger_fuzz::corpus::chain_config().validators,
        CHAIN_ID,
    )
    .expect("verifies");
    codec::decode::<proposal::Proposal>(&body("proposal.msgpack"), usize::MAX).expect("proposal");
    let paired: ledger::shard::ApplyThenWitnessRequest = codec::decode(
        &body("apply_then_witness_request.msgpack"),
        ledger::shard::APPLY_THEN_WITNESS_BYTES_MAX,
    )
    .expect("apply-then-witness request");
    assert_eq!(paired.witness.expected_root, paired.write_set.new_root);
}
