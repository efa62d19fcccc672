//! The seed corpus: valid inputs made with the ledger's own encoders (signed transfers of the
//! three envelopes, batches, JSON-RPC bodies, a sealed snapshot, internal messages), and a few
//! tricky ones next to them. `examples/make_corpus.rs` writes them to `fuzz/corpus/<target>/`.
//!
//! Everything is deterministic (fixed keys, RFC 6979 signatures, a fixed backup nonce), so
//! regenerating the corpus gives the same files.

use std::sync::LazyLock;

use ledger::api::{ErrorBody, Reason, SingleTxRequest};
use ledger::archive::{BackupIndex, BackupRecord, PinningBackend};
use ledger::backup::{self, BACKUP_HEADER_BYTES};
use ledger::block::CertifiedBlock;
use ledger::consensus::{QuorumCertificate, ValidatorSet, Vote};
use ledger::execution::WriteSet;
use ledger::genesis::{ChainConfig, Genesis, GenesisAccount};
use ledger::in_memory::{self, InMemoryShards};
use ledger::primitives::{Address, Hash, parse_hex_array};
use ledger::proposal::Proposal;
use ledger::shard::{ApplyThenWitnessRequest, ShardMeta, WitnessRequest};
use ledger::signature::SecretKey;
use ledger::snapshot::{SNAPSHOT_FORMAT, ShardStart, SnapshotManifest, SnapshotSealer};
use ledger::state::{Account, ShardLayout};
use ledger::transaction::{Submission, Transfer, TxKind, WireTx};
use ledger::wire::{
    self, GuardRequest, LeaseRequest, RestoreRequest, ShardAccounts, ShardRestoreStep,
    SnapshotPageRequest, SubmitRequest,
};
use ledger::{U256, codec};
use serde_json::{Value, json};

use crate::wire::Kind;
use crate::{BASE_FEE_PER_GAS, CHAIN_ID, backup_key, batch, rlp};

/// The fuzz targets, as named in `fuzz/Cargo.toml` and `fuzz/corpus/`.
pub const TARGETS: [&str; 5] = [
    "transaction_decode",
    "msgpack_batch",
    "jsonrpc_request",
    "backup_envelope",
    "wire_message",
];

/// Runs `target`'s check on `data`.
pub fn check(target: &str, data: &[u8]) {
    match target {
        "transaction_decode" => crate::transaction::check(data),
        "msgpack_batch" => crate::batch::check(data),
        "jsonrpc_request" => crate::jsonrpc::check(data),
        "backup_envelope" => crate::backup::check(data),
        "wire_message" => crate::wire::check(data),
        _ => panic!("unknown fuzz target {target}"),
    }
}

/// One seed file.
#[derive(Debug, Clone)]
pub struct Seed {
    /// The target it seeds.
    pub target: &'static str,
    /// Its file name.
    pub name: String,
    /// Its contents.
    pub bytes: Vec<u8>,
}

/// The seeds of every target.
pub fn seeds() -> Vec<Seed> {
    let mut seeds = Vec::new();
    let mut add = |target: &'static str, list: Vec<(&str, Vec<u8>)>| {
        seeds.extend(list.into_iter().map(|(name, bytes)| Seed {
            target,
            name: name.to_owned(),
            bytes,
        }));
    };
    add(TARGETS[0], transaction_seeds());
    add(TARGETS[1], batch_seeds());
    add(TARGETS[2], jsonrpc_seeds());
    add(TARGETS[3], backup_seeds());
    add(TARGETS[4], wire_seeds());
    seeds
}

/// The seeds' chain: its configuration and genesis, the validator that certifies it, and a
/// funded sender.
pub struct Chain {
    /// The genesis, two shards, one validator.
    pub genesis: Genesis,
    /// The only validator's key.
    pub validator: SecretKey,
    /// The first account of the development mnemonic `test test … junk`, funded at genesis.
    pub sender: SecretKey,
    /// The second account of that mnemonic.
    pub recipient: Address,
}

static CHAIN: LazyLock<Chain> = LazyLock::new(|| {
    let validator = key("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d");
    let sender = key("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80");
    let recipient = address("0x70997970c51812dc3a010c7d01b50e0d17dc79c8");
    let validators = ValidatorSet::new(vec![validator.public_key()]).expect("a validator set");
    let funded = [
        (sender.address(), U256::from(10u64).pow(U256::from(21u64))),
        (recipient, U256::from(1u64)),
        (Address([0x11; 20]), U256::from(7u64)),
        (Address([0xee; 20]), U256::MAX >> 1),
    ];
    let genesis = Genesis {
        config: ChainConfig {
            chain_id: CHAIN_ID,
            shard_bits: ShardLayout::new(1).expect("two shards"),
            validators,
            proposer: validator.address(),
            fee_recipient: validator.address(),
            base_fee_per_gas: BASE_FEE_PER_GAS,
            batch_window_ms: 25,
        },
        timestamp_ms: 1_700_000_000_000,
        accounts: funded
            .into_iter()
            .map(|(address, balance)| GenesisAccount { address, balance })
            .collect(),
    };
    genesis.validate().expect("a valid genesis");
    Chain {
        genesis,
        validator,
        sender,
        recipient,
    }
});

/// The seeds' chain.
pub fn chain() -> &'static Chain {
    &CHAIN
}

/// The seeds' chain configuration (what snapshots and votes are checked against).
pub fn chain_config() -> &'static ChainConfig {
    &CHAIN.genesis.config
}

fn key(hex: &str) -> SecretKey {
    SecretKey::from_bytes(&parse_hex_array(hex).expect("32 bytes of hex")).expect("a key")
}

fn address(hex: &str) -> Address {
    hex.parse().expect("an address")
}

/// A transfer of the sender's, of `kind`, with nonce `nonce`.
pub fn transfer(kind: TxKind, nonce: u64) -> Transfer {
    Transfer {
        kind,
        chain_id: CHAIN_ID,
        nonce,
        max_fee_per_gas: 2 * BASE_FEE_PER_GAS,
        max_priority_fee_per_gas: BASE_FEE_PER_GAS,
        gas_limit: 21_000,
        to: CHAIN.recipient,
        value: U256::from(10u64).pow(U256::from(18u64)),
    }
}

/// A signed transfer of `kind` with nonce `nonce`: the raw bytes.
pub fn signed(kind: TxKind, nonce: u64) -> Vec<u8> {
    transfer(kind, nonce).sign(&CHAIN.sender).raw().to_vec()
}

/// The three envelopes, signed: what wallets send.
pub fn three_transfers() -> Vec<Vec<u8>> {
    vec![
        signed(TxKind::Legacy, 0),
        signed(TxKind::AccessList, 1),
        signed(TxKind::DynamicFee, 2),
    ]
}

/// The secp256k1 group order, for high-`s` seeds.
const CURVE_ORDER: U256 = U256::from_limbs([
    0xbfd2_5e8c_d036_4141,
    0xbaae_dce6_af48_a03b,
    0xffff_ffff_ffff_fffe,
    0xffff_ffff_ffff_ffff,
]);

fn transaction_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let [legacy, access_list, dynamic_fee] =
        <[Vec<u8>; 3]>::try_from(three_transfers()).expect("three transfers");
    let sign = |transfer: Transfer| transfer.sign(&CHAIN.sender);
    let other_chain = |kind, chain_id| {
        sign(Transfer {
            chain_id,
            ..transfer(kind, 3)
        })
        .raw()
        .to_vec()
    };
    let dynamic = sign(transfer(TxKind::DynamicFee, 4));
    let (r, s) = (
        U256::from_be_bytes(dynamic.signature().r.0),
        U256::from_be_bytes(dynamic.signature().s.0),
    );
    let parity = U256::from(u8::from(dynamic.signature().y_parity));
    let high_s = rlp::encode_with(
        dynamic.transfer(),
        U256::from(1u8) - parity,
        r,
        CURVE_ORDER - s,
    );
    let bad_parity = rlp::encode_with(dynamic.transfer(), U256::from(2u8), r, s);
    let unprotected = rlp::encode_with(&transfer(TxKind::Legacy, 5), U256::from(27u8), r, s);
    let mut trailing = dynamic_fee.clone();
    trailing.push(0);
    let mut unsupported = dynamic_fee.clone();
    unsupported[0] = 0x03;
    let too_large_value = sign(Transfer {
        value: U256::MAX,
        ..transfer(TxKind::DynamicFee, 6)
    });
    let nonce_max = sign(transfer(TxKind::AccessList, u64::MAX));
    vec![
        ("legacy.rlp", legacy),
        ("access_list.rlp", access_list),
        ("dynamic_fee.rlp", dynamic_fee),
        (
            "legacy_chain_max.rlp",
            other_chain(TxKind::Legacy, u64::MAX),
        ),
        (
            "dynamic_fee_chain_max.rlp",
            other_chain(TxKind::DynamicFee, u64::MAX),
        ),
        (
            "dynamic_fee_chain_1.rlp",
            other_chain(TxKind::DynamicFee, 1),
        ),
        ("dynamic_fee_high_s.rlp", high_s),
        ("dynamic_fee_parity_2.rlp", bad_parity),
        ("legacy_unprotected.rlp", unprotected),
        ("dynamic_fee_trailing_byte.rlp", trailing),
        ("type_3.rlp", unsupported),
        ("value_too_large.rlp", too_large_value.raw().to_vec()),
        ("nonce_max.rlp", nonce_max.raw().to_vec()),
        ("empty.rlp", Vec::new()),
    ]
}

fn json_bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("JSON encodes")
}

fn batch_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let raws = three_transfers();
    // The same batch with MessagePack's widest headers: array 32 and bin 32.
    let mut wide = vec![0xdd, 0, 0, 0, 3];
    for raw in &raws {
        wide.push(0xc6);
        wide.extend_from_slice(&(raw.len() as u32).to_be_bytes());
        wide.extend_from_slice(raw);
    }
    let full = batch::encode_raws(&raws);
    // The first alone, the second with its sender's key as x ‖ y, the third as SEC1 with its
    // signature's nonce y.
    let xy = CHAIN.sender.public_key().to_xy();
    let nonce_y = ledger::transaction::decode(&raws[2], CHAIN_ID)
        .and_then(|signed| Ok(signed.signature().nonce_y()?))
        .expect("a signed transfer");
    let keyed = batch::encode(&[
        Submission::raw(raws[0].clone()),
        Submission::with_key(raws[1].clone(), xy.to_vec()),
        Submission {
            nonce_y: Some(nonce_y.0.to_vec()),
            ..Submission::with_key(raws[2].clone(), [&[0x04][..], &xy].concat())
        },
    ]);
    let single_with_key = |raw: String, sender_key: Option<String>| {
        let request = SingleTxRequest {
            raw,
            sender_key,
            nonce_y: None,
        };
        json_bytes(&serde_json::to_value(request).expect("JSON"))
    };
    let single = |raw: String| single_with_key(raw, None);
    vec![
        ("batch_three.msgpack", full.clone()),
        ("batch_empty.msgpack", batch::encode(&[])),
        ("batch_with_sender_keys.msgpack", keyed),
        (
            "batch_element_of_four.msgpack",
            vec![
                0x91, 0x94, 0xc4, 0x01, 0x02, 0xc4, 0x00, 0xc4, 0x00, 0xc4, 0x00,
            ],
        ),
        ("batch_wide_headers.msgpack", wide),
        ("batch_truncated.msgpack", full[..full.len() - 9].to_vec()),
        ("batch_count_4097.msgpack", vec![0xdd, 0, 0, 0x10, 0x01]),
        (
            "batch_string_element.msgpack",
            vec![0x91, 0xa3, b'a', b'b', b'c'],
        ),
        (
            "single.json",
            single(format!("0x{}", hex::encode(&raws[2]))),
        ),
        (
            "single_upper_prefix.json",
            single(format!("0X{}", hex::encode(&raws[0]))),
        ),
        (
            "single_with_sender_key.json",
            single_with_key(
                format!("0x{}", hex::encode(&raws[1])),
                Some(format!("0x04{}", hex::encode(xy))),
            ),
        ),
        ("single_odd_hex.json", single("0xabc".to_owned())),
        (
            "single_extra_field.json",
            json_bytes(&json!({"raw": "0x", "extra": 1})),
        ),
    ]
}

/// A JSON-RPC request object.
fn request(id: Value, method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

fn jsonrpc_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let raws = three_transfers();
    let raw = |index: usize| Value::String(format!("0x{}", hex::encode(&raws[index])));
    let sender = ledger::rpc::data(CHAIN.sender.address());
    let recipient = ledger::rpc::data(CHAIN.recipient);
    let hash = ledger::rpc::data(ledger::keccak256(&raws[0]));
    let call = json!({"from": sender, "to": recipient, "value": "0xde0b6b3a7640000",
        "gas": "0x5208", "maxFeePerGas": "0x77359400", "maxPriorityFeePerGas": "0x3b9aca00"});
    let batch = json!([
        request(json!(1), "eth_chainId", json!([])),
        request(json!("two"), "eth_blockNumber", Value::Null),
        request(json!(3), "eth_getBalance", json!([sender, "latest"])),
        request(
            json!(4),
            "eth_getTransactionCount",
            json!([sender, "pending"])
        ),
        request(
            json!(5),
            "eth_getCode",
            json!([recipient, {"blockNumber": "0x0"}])
        ),
        request(json!(6), "eth_sendRawTransaction", json!([raw(0)])),
        request(json!(7), "eth_sendRawTransaction", json!([raw(1)])),
        request(json!(8), "eth_getBlockByNumber", json!(["0x1", true])),
        request(json!(9), "eth_getBlockByHash", json!([hash, false])),
        request(json!(10), "eth_getTransactionByHash", json!([hash])),
        request(json!(11), "eth_getTransactionReceipt", json!([hash])),
        request(
            json!(12),
            "eth_feeHistory",
            json!(["0x5", "latest", [10, 50.5, 90]])
        ),
        request(json!(13), "eth_estimateGas", json!([call])),
        request(json!(14), "eth_call", json!([call, "latest"])),
        request(json!(15), "eth_gasPrice", json!({})),
        request(json!(16), "net_version", json!([])),
        request(json!(17), "web3_clientVersion", json!([])),
        request(json!(18), "eth_syncing", json!([])),
        request(json!(19), "eth_maxPriorityFeePerGas", json!([])),
        json!({"jsonrpc": "2.0", "method": "eth_sendRawTransaction", "params": [raw(2)]}),
        json!({"jsonrpc": "2.0", "method": "eth_unknown"}),
        json!({"jsonrpc": "1.0", "id": 20, "method": "eth_chainId"}),
        json!({"jsonrpc": "2.0", "id": [21], "method": "eth_chainId"}),
        json!(22),
        request(json!(23), "eth_getBalance", json!({"address": sender})),
        request(
            Value::Null,
            "eth_feeHistory",
            json!(["1025", "0x2", [50, 10]])
        ),
    ]);
    vec![
        (
            "send_raw_transaction.json",
            json_bytes(&request(
                json!(1),
                "eth_sendRawTransaction",
                json!([raw(2)]),
            )),
        ),
        ("batch_every_method.json", json_bytes(&batch)),
        (
            "batch_notifications_only.json",
            json_bytes(&json!([{"jsonrpc": "2.0", "method": "eth_chainId"}])),
        ),
        (
            "estimate_gas_creation.json",
            json_bytes(&request(
                json!("x"),
                "eth_estimateGas",
                json!([{"input": "0x00"}]),
            )),
        ),
        ("batch_empty.json", b"[]".to_vec()),
        ("not_json.json", b"{\"jsonrpc\": \"2.0\", ".to_vec()),
        ("number.json", b"42".to_vec()),
        // An id with more digits than a double holds (a crash the fuzzer found): echoed, it
        // must read back as the same number.
        (
            "id_past_double_precision.json",
            format!(
                r#"{{"jsonrpc": "2.0", "id": 13{}, "method": "eth_chainId"}}"#,
                "2".repeat(109)
            )
            .into_bytes(),
        ),
    ]
}

/// The seeds' chain at block one, certified, as a snapshot of every account.
pub fn snapshot_envelope() -> Vec<u8> {
    let chain = chain();
    let shards = InMemoryShards::from_genesis(&chain.genesis).expect("shards");
    let (header, certificate) =
        in_memory::certified_block_one(&chain.genesis, std::slice::from_ref(&chain.validator))
            .expect("block one");
    let manifest = SnapshotManifest {
        format: SNAPSHOT_FORMAT,
        header,
        certificate,
        shard_roots: shards.roots(),
    };
    let mut sealer = SnapshotSealer::new(&backup_key(), [7; 12], manifest).expect("a sealer");
    for (index, shard) in (0..).zip(shards.iter()) {
        let accounts: Vec<(Address, Account)> = shard
            .store()
            .accounts()
            .iter()
            .map(|(address, account)| (*address, *account))
            .collect();
        sealer
            .shard(ShardStart {
                shard: index,
                accounts: accounts.len() as u64,
            })
            .expect("a shard");
        sealer.accounts(accounts).expect("a page");
    }
    sealer.finish().expect("sealed").ciphertext
}

fn backup_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let key = backup_key();
    let envelope = snapshot_envelope();
    let (header, plaintext) = backup::open(&key, &envelope).expect("the snapshot opens");
    let chunked = backup::seal_chunked(&key, [9; 12], header.fields, 64, &plaintext)
        .expect("sealed in chunks of 64 bytes");
    let empty = backup::seal_chunked(&key, [0; 12], header.fields, 64, &[]).expect("sealed");
    let mut version_2 = chunked.clone();
    version_2[9] = 2;
    vec![
        ("snapshot.backup", envelope),
        ("snapshot_chunks_of_64.backup", chunked.clone()),
        ("empty.backup", empty),
        (
            "cut_inside_last_chunk.backup",
            chunked[..chunked.len() - 5].to_vec(),
        ),
        (
            "cut_at_chunk_boundary.backup",
            chunked[..BACKUP_HEADER_BYTES + 80].to_vec(),
        ),
        (
            "header_only.backup",
            chunked[..BACKUP_HEADER_BYTES].to_vec(),
        ),
        ("version_2.backup", version_2),
        ("snapshot.records", plaintext),
        ("index_empty.json", BackupIndex::empty().encode()),
        (
            "index_three.json",
            backup_index(&header.fields.state_root).encode(),
        ),
    ]
}

/// An index of three backups, the latest at height 30.
fn backup_index(state_root: &Hash) -> BackupIndex {
    let mut index = BackupIndex::empty();
    for (height, cid) in [(10, "QmTen"), (20, "QmTwenty"), (30, "bafyThirty")] {
        let record = BackupRecord {
            cid: cid.to_owned(),
            chain_id: CHAIN_ID,
            height,
            block_hash: ledger::keccak256(cid.as_bytes()),
            state_root: *state_root,
            accounts: 4,
            ciphertext_bytes: 1_000 + height,
            ciphertext_sha256: ledger::archive::sha256(cid.as_bytes()),
            created_at_ms: 1_700_000_000_000 + height * 1_000,
            backend: if height == 20 {
                PinningBackend::Pinata
            } else {
                PinningBackend::Kubo
            },
            pin_id: (height == 20).then(|| "pin-20".to_owned()),
        };
        index.publish(record, 8).expect("published");
    }
    index
}

fn with_selector(kind: Kind, body: Vec<u8>) -> Vec<u8> {
    let mut bytes = vec![kind.selector()];
    bytes.extend(body);
    bytes
}

fn wire_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let chain = chain();
    let shards = InMemoryShards::from_genesis(&chain.genesis).expect("shards");
    let genesis_header = chain.genesis.header().expect("a genesis header");
    let (header, certificate) =
        in_memory::certified_block_one(&chain.genesis, std::slice::from_ref(&chain.validator))
            .expect("block one");
    let transactions: Vec<WireTx> = three_transfers()
        .iter()
        .map(|raw| {
            let signed = ledger::transaction::decode(raw, CHAIN_ID).expect("decodes");
            signed.recover().expect("recovers").to_wire()
        })
        .collect();
    let submit = SubmitRequest {
        transactions: transactions.clone(),
        refused: wire::RefusalCount::tally(["nonce_too_low", "high_s", "nonce_too_low"]),
        request_id: Some("req-1".to_owned()),
    };
    let vote = Vote::sign(
        &chain.validator,
        &chain.genesis.config.validators,
        CHAIN_ID,
        1,
        header.hash(),
    )
    .expect("a vote");
    let block = CertifiedBlock {
        header,
        certificate: certificate.clone(),
        transactions: Vec::new(),
        receipts: Vec::new(),
    };
    let addresses = [chain.sender.address(), chain.recipient];
    let proposal = Proposal {
        header,
        parent: genesis_header,
        parent_certificate: QuorumCertificate::genesis(),
        transactions,
        witness: shards.witness(&addresses).expect("a witness"),
    };
    let layout = chain.genesis.config.layout();
    let shard = layout.shard_of(&chain.sender.address());
    let root = shards.roots()[usize::from(shard)];
    let meta = ShardMeta {
        shard,
        applied_height: 1,
        root,
    };
    let account = shards.account(&chain.sender.address()).expect("an account");
    let write_set = WriteSet {
        height: 2,
        shard,
        base_root: root,
        new_root: ledger::keccak256(root.as_bytes()),
        accounts: vec![(chain.sender.address(), account)],
    };
    let restore = RestoreRequest {
        header,
        certificate,
        shard_roots: shards.roots(),
    };
    let error = ErrorBody {
        error: Reason {
            code: "malformed_body".to_owned(),
            message: "expected a MessagePack array".to_owned(),
        },
    };
    vec![
        (
            "submit.msgpack",
            with_selector(Kind::Submit, codec::encode(&submit)),
        ),
        (
            "guard.msgpack",
            with_selector(
                Kind::Guard,
                codec::encode(&GuardRequest {
                    height: 1,
                    block_hash: header.hash(),
                }),
            ),
        ),
        (
            "lease.msgpack",
            with_selector(
                Kind::Lease,
                codec::encode(&LeaseRequest {
                    holder: u64::MAX,
                    acquire: true,
                    lease_ms: 600_000,
                }),
            ),
        ),
        (
            "restore.msgpack",
            with_selector(Kind::Restore, codec::encode(&restore)),
        ),
        (
            "header.msgpack",
            with_selector(Kind::Header, header.encode()),
        ),
        (
            "genesis_header.msgpack",
            with_selector(Kind::Header, genesis_header.encode()),
        ),
        (
            "vote.msgpack",
            with_selector(Kind::Vote, codec::encode(&vote)),
        ),
        (
            "block_one.msgpack",
            with_selector(Kind::CertifiedBlock, block.encode()),
        ),
        (
            "proposal.msgpack",
            with_selector(Kind::Proposal, codec::encode(&proposal)),
        ),
        (
            "write_set.msgpack",
            with_selector(Kind::WriteSet, codec::encode(&write_set)),
        ),
        (
            "witness_request.msgpack",
            with_selector(
                Kind::WitnessRequest,
                codec::encode(&WitnessRequest {
                    shard,
                    expected_root: root,
                    addresses: addresses.to_vec(),
                }),
            ),
        ),
        (
            "apply_then_witness_request.msgpack",
            with_selector(
                Kind::WitnessRequest,
                codec::encode(&ApplyThenWitnessRequest {
                    write_set: write_set.clone(),
                    witness: WitnessRequest {
                        shard,
                        expected_root: write_set.new_root,
                        addresses: addresses.to_vec(),
                    },
                }),
            ),
        ),
        (
            "accounts_request.msgpack",
            with_selector(Kind::ShardAccounts, codec::encode(&addresses)),
        ),
        (
            "accounts_answer.msgpack",
            with_selector(
                Kind::ShardAccounts,
                codec::encode(&ShardAccounts {
                    meta,
                    accounts: vec![Some(account), None],
                }),
            ),
        ),
        (
            "restore_page.msgpack",
            with_selector(
                Kind::ShardRestore,
                codec::encode(&ShardRestoreStep::Page(vec![(
                    chain.sender.address(),
                    account,
                )])),
            ),
        ),
        (
            "snapshot_page_request.msgpack",
            with_selector(
                Kind::ShardRestore,
                codec::encode(&SnapshotPageRequest {
                    after: Some(chain.recipient),
                    limit: 4_096,
                }),
            ),
        ),
        (
            "error.msgpack",
            with_selector(Kind::Error, codec::encode(&error)),
        ),
    ]
}
