//! Unit tests of block execution: fees, exclusions, shards, errors, conservation, determinism.
//!
//! Expected states are computed independently of the code under test: a [`World`] is a plain
//! map of accounts whose roots are rebuilt from scratch with a [`Trie`], and the random blocks
//! are checked against a small reference model of the rules written out here.
//!
//! The fixtures are `pub(crate)` so the proposal tests can build chains the same way.

use super::*;
use crate::block::BlockFormat;
use crate::consensus::ValidatorSet;
use crate::random::SplitMix64;
use crate::signature::SecretKey;
use crate::state::ShardLayout;
use crate::transaction::{Transfer, TxKind};
use crate::trie::{MemoryTrieStore, NodePosition, Trie, root_over_shards};

pub(crate) const CHAIN_ID: u64 = 31_337;
pub(crate) const BASE_FEE: u128 = 10;
/// Four shards: shard = top two address bits.
pub(crate) const SHARD_BITS: u8 = 2;

/// A deterministic secret key.
pub(crate) fn key(seed: u64) -> SecretKey {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_be_bytes());
    bytes[31] = 1;
    SecretKey::from_bytes(&bytes).expect("small non-zero keys are valid")
}

/// The first key from `seed` on whose address lies in `shard` of the four-shard layout.
pub(crate) fn key_in_shard(seed: u64, shard: u8) -> SecretKey {
    (seed..seed + 1_000)
        .map(key)
        .find(|key| key.address().0[0] >> 6 == shard)
        .expect("one key in four lands in each shard")
}

/// An address in `shard` of the four-shard layout (its top two bits), told apart by `tag`.
pub(crate) fn address_in_shard(shard: u8, tag: u8) -> Address {
    let mut bytes = [tag; 20];
    bytes[0] = (shard << 6) | (tag & 0x3f);
    Address(bytes)
}

/// A chain configuration with four validators.
pub(crate) fn chain_config(shard_bits: u8, base_fee: u128, fee_recipient: Address) -> ChainConfig {
    let validators =
        ValidatorSet::new(validator_keys().iter().map(SecretKey::public_key).collect())
            .expect("valid validator set");
    ChainConfig {
        chain_id: CHAIN_ID,
        shard_bits: ShardLayout::new(shard_bits).expect("valid layout"),
        validators,
        proposer: address_in_shard(2, 0x77),
        fee_recipient,
        base_fee_per_gas: base_fee,
        batch_window_ms: 20,
    }
}

/// The four validator keys of [`chain_config`].
pub(crate) fn validator_keys() -> Vec<SecretKey> {
    (0..4).map(|index| key(9_000 + index)).collect()
}

/// The default fee recipient: in shard 3.
pub(crate) fn fee_recipient() -> Address {
    address_in_shard(3, 0x3e)
}

/// The default test chain: four shards, base fee [`BASE_FEE`], fees to [`fee_recipient`].
pub(crate) fn default_config() -> ChainConfig {
    chain_config(SHARD_BITS, BASE_FEE, fee_recipient())
}

/// A dynamic-fee transfer paying `BASE_FEE + 1` per gas, with the least gas limit.
pub(crate) fn transfer(nonce: u64, to: Address, value: u64) -> Transfer {
    Transfer {
        kind: TxKind::DynamicFee,
        chain_id: CHAIN_ID,
        nonce,
        max_fee_per_gas: 2 * BASE_FEE,
        max_priority_fee_per_gas: 1,
        gas_limit: TRANSFER_GAS,
        to,
        value: U256::from(value),
    }
}

/// Signs and recovers, as the front door would.
pub(crate) fn signed(transfer: Transfer, key: &SecretKey) -> VerifiedTx {
    transfer
        .sign(key)
        .recover()
        .expect("own signature recovers")
}

/// The whole state as a plain map; roots are rebuilt from scratch, independently of the
/// witness updates that execution uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct World {
    pub(crate) layout: ShardLayout,
    pub(crate) accounts: BTreeMap<Address, Account>,
}

impl World {
    pub(crate) fn new(layout: ShardLayout) -> Self {
        Self {
            layout,
            accounts: BTreeMap::new(),
        }
    }

    /// Sets an account.
    pub(crate) fn with(mut self, address: Address, nonce: u64, balance: u64) -> Self {
        self.accounts.insert(
            address,
            Account {
                nonce,
                balance: U256::from(balance),
            },
        );
        self
    }

    pub(crate) fn account(&self, address: &Address) -> Account {
        self.accounts.get(address).copied().unwrap_or_default()
    }

    pub(crate) fn balance(&self, address: &Address) -> U256 {
        self.account(address).balance
    }

    fn shard_trie(&self, shard: ShardIndex) -> Trie<MemoryTrieStore> {
        let mut trie = Trie::new(
            MemoryTrieStore::default(),
            NodePosition::shard_root(self.layout, shard),
        );
        let accounts: BTreeMap<Address, Account> = self
            .accounts
            .iter()
            .filter(|(address, _)| self.layout.shard_of(address) == shard)
            .map(|(address, account)| (*address, *account))
            .collect();
        if !accounts.is_empty() {
            trie.update(&accounts).expect("in-memory trie updates");
        }
        trie
    }

    pub(crate) fn shard_roots(&self) -> Vec<Hash> {
        (0..self.layout.shard_count())
            .map(|shard| {
                self.shard_trie(shard as ShardIndex)
                    .root()
                    .expect("in-memory root")
            })
            .collect()
    }

    pub(crate) fn state_root(&self) -> Hash {
        root_over_shards(&self.shard_roots())
    }

    /// A witness covering exactly `addresses`.
    pub(crate) fn witness(&self, addresses: &[Address]) -> Witness {
        let shard_roots = self.shard_roots();
        let parts = crate::in_memory::witness_requests(self.layout, &shard_roots, addresses)
            .into_iter()
            .map(|request| {
                let part = self
                    .shard_trie(request.shard)
                    .multiproof(&request.addresses)
                    .expect("multiproof");
                (request.shard, part)
            })
            .collect();
        Witness::new(self.layout, shard_roots, parts).expect("well-formed witness")
    }

    /// The witness the sequencer would gather for `txs`.
    pub(crate) fn witness_for(&self, config: &ChainConfig, txs: &[VerifiedTx]) -> Witness {
        self.witness(&touched_addresses(config, txs))
    }

    /// Applies write sets, checking each account is in the write set's shard.
    pub(crate) fn apply(&mut self, write_sets: &BTreeMap<ShardIndex, WriteSet>) {
        for (shard, write_set) in write_sets {
            assert_eq!(*shard, write_set.shard, "write set filed under its shard");
            for (address, account) in &write_set.accounts {
                assert_eq!(
                    self.layout.shard_of(address),
                    *shard,
                    "account in its shard"
                );
                self.accounts.insert(*address, *account);
            }
        }
    }

    pub(crate) fn supply(&self) -> U256 {
        self.accounts
            .values()
            .fold(U256::ZERO, |sum, account| sum + account.balance)
    }
}

/// Executes `txs` at height 1 on `world` with the witness the sequencer would gather.
pub(crate) fn run(config: &ChainConfig, world: &World, txs: &[VerifiedTx]) -> Execution {
    execute(
        config,
        &world.state_root(),
        1,
        BlockFormat::PROPOSED,
        txs,
        world.witness_for(config, txs),
    )
    .expect("block executes")
}

/// `world` after `execution`, checking the execution's roots against the rebuilt ones.
fn after(world: &World, execution: &Execution) -> World {
    let mut after = world.clone();
    after.apply(&execution.write_sets);
    assert_eq!(execution.shard_roots(), after.shard_roots(), "shard roots");
    assert_eq!(execution.state_root, after.state_root(), "state root");
    after
}

fn wei(amount: u128) -> U256 {
    U256::from(amount)
}

/// `TRANSFER_GAS × price`, the fee of one included transfer.
fn fee_at(price: u128) -> U256 {
    U256::from(21_000u64) * U256::from(price)
}

#[test]
fn each_kind_pays_its_effective_gas_price() {
    let config = default_config();
    // (kind, max fee or gas price, priority fee, price the rules give with base fee 10)
    let cases: [(TxKind, u128, u128, u128); 6] = [
        (TxKind::Legacy, 13, 13, 13),
        (TxKind::Legacy, BASE_FEE, BASE_FEE, BASE_FEE),
        (TxKind::AccessList, 17, 17, 17),
        // 1559: base + priority when below the cap ...
        (TxKind::DynamicFee, 20, 3, BASE_FEE + 3),
        // ... the cap when base + priority exceeds it ...
        (TxKind::DynamicFee, 12, 5, 12),
        // ... and exactly the base fee with no tip.
        (TxKind::DynamicFee, BASE_FEE, 0, BASE_FEE),
    ];
    let senders: Vec<SecretKey> = (0..cases.len() as u64).map(|i| key(100 + i)).collect();
    let recipient = address_in_shard(1, 0x11);
    let mut world =
        World::new(config.layout())
            .with(recipient, 3, 1_000)
            .with(fee_recipient(), 0, 5);
    for (index, sender) in senders.iter().enumerate() {
        world = world.with(sender.address(), index as u64, 10_000_000);
    }
    let txs: Vec<VerifiedTx> = cases
        .iter()
        .zip(&senders)
        .enumerate()
        .map(|(index, ((kind, max_fee, priority, _), sender))| {
            let transfer = Transfer {
                kind: *kind,
                max_fee_per_gas: *max_fee,
                max_priority_fee_per_gas: *priority,
                gas_limit: 25_000,
                ..transfer(index as u64, recipient, 1_000 + index as u64)
            };
            signed(transfer, sender)
        })
        .collect();
    let execution = run(&config, &world, &txs);
    assert_eq!(execution.included, (0..cases.len()).collect::<Vec<_>>());
    assert!(execution.excluded.is_empty());
    let after = after(&world, &execution);

    let mut fees = U256::ZERO;
    let mut values = U256::ZERO;
    for (index, (((_, _, _, price), sender), tx)) in
        cases.iter().zip(&senders).zip(&txs).enumerate()
    {
        let value = wei(1_000 + index as u128);
        let fee = fee_at(*price);
        let receipt = &execution.receipts[index];
        let expected = Receipt {
            tx_hash: tx.hash(),
            index: index as u32,
            sender: sender.address(),
            to: recipient,
            nonce: index as u64,
            value,
            gas_used: TRANSFER_GAS,
            effective_gas_price: *price,
            fee,
        };
        assert_eq!(*receipt, expected, "receipt of case {index}");
        assert_eq!(
            after.account(&sender.address()),
            Account {
                nonce: index as u64 + 1,
                balance: wei(10_000_000) - value - fee,
            },
            "sender of case {index}"
        );
        fees += fee;
        values += value;
    }
    assert_eq!(
        after.account(&recipient),
        Account {
            nonce: 3,
            balance: wei(1_000) + values
        }
    );
    assert_eq!(after.balance(&fee_recipient()), wei(5) + fees);
    let format = BlockFormat::PROPOSED;
    assert_eq!(execution.format, format);
    assert_eq!(
        execution.receipts_root,
        format.receipts_root(&execution.receipts)
    );
    let hashes: Vec<Hash> = txs.iter().map(VerifiedTx::hash).collect();
    assert_eq!(
        execution.transactions_root,
        format.transactions_root(&hashes)
    );
}

#[test]
fn fees_are_credited_once_after_the_last_transaction() {
    // The fee recipient is an account with a key: it sends twice in the block in which it
    // earns fees. Its second transfer needs those fees, so it must be excluded.
    let recipient_key = key_in_shard(200, 3);
    let config = chain_config(SHARD_BITS, BASE_FEE, recipient_key.address());
    let payer = key_in_shard(300, 0);
    let target = address_in_shard(1, 0x21);
    let own_fee = fee_at(BASE_FEE);
    // Exactly enough for the first transfer (value 100 at the base fee) and nothing more.
    let start = wei(100) + own_fee;
    let world = World::new(config.layout())
        .with(recipient_key.address(), 0, start.to::<u64>())
        .with(payer.address(), 0, 50_000_000);
    let at_base_fee = |nonce, value| Transfer {
        kind: TxKind::Legacy,
        max_fee_per_gas: BASE_FEE,
        max_priority_fee_per_gas: BASE_FEE,
        ..transfer(nonce, target, value)
    };
    let payer_tx = signed(transfer(0, target, 7), &payer);
    let first = signed(at_base_fee(0, 100), &recipient_key);
    let second = signed(at_base_fee(1, 0), &recipient_key);
    let execution = run(&config, &world, &[payer_tx, first, second.clone()]);
    assert_eq!(execution.included, vec![0, 1]);
    // Had the payer's fee been credited at once, the balance here would cover the cost.
    assert_eq!(
        execution.excluded,
        vec![(
            second.hash(),
            Exclusion::InsufficientFunds {
                balance: U256::ZERO,
                cost: U256::from(21_000u64) * U256::from(BASE_FEE),
            }
        )]
    );
    let payer_fee = fee_at(BASE_FEE + 1);
    let sum: U256 = execution.receipts.iter().map(|receipt| receipt.fee).sum();
    assert_eq!(sum, payer_fee + own_fee);
    let after = after(&world, &execution);
    assert_eq!(
        after.account(&recipient_key.address()),
        Account {
            nonce: 1,
            balance: start - wei(100) - own_fee + payer_fee + own_fee,
        }
    );
    let shard_three = &execution.write_sets[&3];
    assert_eq!(
        shard_three.accounts,
        vec![(
            recipient_key.address(),
            after.account(&recipient_key.address())
        )],
        "the fee recipient is written once, with its final balance"
    );
}

#[test]
fn nonces_too_low_and_ahead_are_excluded_in_order() {
    let config = default_config();
    let sender = key(400);
    let to = address_in_shard(1, 0x31);
    let world = World::new(config.layout())
        .with(sender.address(), 5, 10_000_000)
        .with(fee_recipient(), 0, 0);
    let txs = [
        signed(transfer(4, to, 1), &sender),
        signed(transfer(6, to, 2), &sender),
        signed(transfer(5, to, 3), &sender),
        signed(transfer(5, to, 4), &sender),
        signed(transfer(7, to, 5), &sender),
    ];
    let execution = run(&config, &world, &txs);
    assert_eq!(execution.included, vec![2]);
    let expected = vec![
        (
            txs[0].hash(),
            Exclusion::NonceTooLow {
                expected: 5,
                got: 4,
            },
        ),
        (
            txs[1].hash(),
            Exclusion::NonceAhead {
                expected: 5,
                got: 6,
            },
        ),
        (
            txs[3].hash(),
            Exclusion::NonceTooLow {
                expected: 6,
                got: 5,
            },
        ),
        (
            txs[4].hash(),
            Exclusion::NonceAhead {
                expected: 6,
                got: 7,
            },
        ),
    ];
    assert_eq!(execution.excluded, expected);
    let after = after(&world, &execution);
    assert_eq!(
        after.account(&sender.address()),
        Account {
            nonce: 6,
            balance: wei(10_000_000) - wei(3) - fee_at(BASE_FEE + 1),
        }
    );
    assert_eq!(after.balance(&to), wei(3));
}

#[test]
fn a_later_nonce_waits_when_the_earlier_one_cannot_pay() {
    let config = default_config();
    let sender = key(500);
    let to = address_in_shard(1, 0x41);
    let world = World::new(config.layout())
        .with(sender.address(), 0, 1_000_000)
        .with(fee_recipient(), 0, 9);
    let too_big = signed(transfer(0, to, 1_000_000), &sender);
    let next = signed(transfer(1, to, 1), &sender);
    let execution = run(&config, &world, &[too_big.clone(), next.clone()]);
    assert!(execution.included.is_empty());
    assert!(execution.receipts.is_empty());
    assert_eq!(
        execution.excluded,
        vec![
            (
                too_big.hash(),
                Exclusion::InsufficientFunds {
                    balance: wei(1_000_000),
                    cost: wei(21_000 * 2 * BASE_FEE + 1_000_000),
                }
            ),
            (
                next.hash(),
                Exclusion::NonceAhead {
                    expected: 0,
                    got: 1
                }
            ),
        ]
    );
    assert!(
        !Exclusion::NonceAhead {
            expected: 0,
            got: 1
        }
        .is_final()
    );
    // Nothing changed: no write set at all, not even for the fee recipient.
    assert!(execution.write_sets.is_empty());
    assert_eq!(execution.state_root, world.state_root());
    assert_eq!(execution.shard_roots(), world.shard_roots());
    assert_eq!(execution.transactions_root, Hash::ZERO, "empty list root");
    assert_eq!(execution.receipts_root, Hash::ZERO, "empty list root");
}

#[test]
fn a_fee_cap_below_the_base_fee_is_excluded() {
    let config = default_config();
    let legacy = key(600);
    let dynamic = key(601);
    let exact = key(602);
    let to = address_in_shard(0, 0x01);
    let world = World::new(config.layout())
        .with(legacy.address(), 0, 10_000_000)
        .with(dynamic.address(), 0, 10_000_000)
        .with(exact.address(), 0, 10_000_000);
    let legacy_tx = signed(
        Transfer {
            kind: TxKind::Legacy,
            max_fee_per_gas: BASE_FEE - 1,
            max_priority_fee_per_gas: BASE_FEE - 1,
            ..transfer(0, to, 1)
        },
        &legacy,
    );
    let dynamic_tx = signed(
        Transfer {
            max_fee_per_gas: BASE_FEE - 1,
            max_priority_fee_per_gas: 0,
            ..transfer(0, to, 1)
        },
        &dynamic,
    );
    let exact_tx = signed(
        Transfer {
            max_fee_per_gas: BASE_FEE,
            max_priority_fee_per_gas: BASE_FEE,
            ..transfer(0, to, 1)
        },
        &exact,
    );
    let execution = run(
        &config,
        &world,
        &[legacy_tx.clone(), dynamic_tx.clone(), exact_tx],
    );
    let too_low = Exclusion::FeeTooLow { base_fee: BASE_FEE };
    assert_eq!(
        execution.excluded,
        vec![(legacy_tx.hash(), too_low), (dynamic_tx.hash(), too_low)]
    );
    assert_eq!(execution.included, vec![2]);
    assert_eq!(execution.receipts[0].effective_gas_price, BASE_FEE);
    let after = after(&world, &execution);
    assert_eq!(
        after.account(&legacy.address()),
        world.account(&legacy.address())
    );
    assert_eq!(
        after.account(&dynamic.address()),
        world.account(&dynamic.address())
    );
}

#[test]
fn funds_are_checked_against_the_up_front_cost_not_the_actual_fee() {
    let config = default_config();
    let to = address_in_shard(1, 0x51);
    // Could pay value + actual fee (price BASE_FEE + 1) but not gas_limit × max_fee + value.
    let short = key(700);
    let short_balance = 5_000 + 21_000 * (BASE_FEE + 1);
    // Holds exactly gas_limit × gas price + value with a 30,000 gas limit: included.
    let exact = key(701);
    let exact_balance = 30_000 * 12 + 5_000;
    // One wei less: excluded.
    let one_less = key(702);
    let world = World::new(config.layout())
        .with(short.address(), 0, short_balance as u64)
        .with(exact.address(), 0, exact_balance as u64)
        .with(one_less.address(), 0, exact_balance as u64 - 1);
    let legacy_30k = |nonce| Transfer {
        kind: TxKind::Legacy,
        max_fee_per_gas: 12,
        max_priority_fee_per_gas: 12,
        gas_limit: 30_000,
        ..transfer(nonce, to, 5_000)
    };
    let txs = [
        signed(transfer(0, to, 5_000), &short),
        signed(legacy_30k(0), &exact),
        signed(legacy_30k(0), &one_less),
    ];
    let execution = run(&config, &world, &txs);
    assert_eq!(execution.included, vec![1]);
    assert_eq!(
        execution.excluded,
        vec![
            (
                txs[0].hash(),
                Exclusion::InsufficientFunds {
                    balance: wei(short_balance),
                    cost: wei(21_000 * 2 * BASE_FEE + 5_000),
                }
            ),
            (
                txs[2].hash(),
                Exclusion::InsufficientFunds {
                    balance: wei(exact_balance - 1),
                    cost: wei(exact_balance),
                }
            ),
        ]
    );
    let after = after(&world, &execution);
    // Only 21,000 of the 30,000 gas is charged.
    assert_eq!(after.balance(&exact.address()), wei(9_000 * 12));
    assert_eq!(after.balance(&to), wei(5_000));
}

#[test]
fn exclusion_codes_and_finality() {
    let cases = [
        (
            Exclusion::NonceTooLow {
                expected: 1,
                got: 0,
            },
            "nonce_too_low",
            true,
        ),
        (
            Exclusion::NonceAhead {
                expected: 0,
                got: 1,
            },
            "nonce_ahead",
            false,
        ),
        (Exclusion::FeeTooLow { base_fee: 1 }, "fee_too_low", true),
        (
            Exclusion::InsufficientFunds {
                balance: U256::ZERO,
                cost: U256::from(1u64),
            },
            "insufficient_funds",
            true,
        ),
        (Exclusion::Evicted, "evicted", true),
    ];
    for (exclusion, code, is_final) in cases {
        assert_eq!(exclusion.code(), code);
        assert_eq!(exclusion.is_final(), is_final, "{code}");
    }
}

#[test]
fn a_self_transfer_pays_only_the_fee() {
    let config = default_config();
    let sender = key_in_shard(800, 0);
    let world = World::new(config.layout()).with(sender.address(), 2, 1_000_000);
    let tx = signed(transfer(2, sender.address(), 400_000), &sender);
    let execution = run(&config, &world, std::slice::from_ref(&tx));
    assert_eq!(execution.included, vec![0]);
    assert_eq!(execution.receipts[0].to, sender.address());
    let after = after(&world, &execution);
    let fee = fee_at(BASE_FEE + 1);
    assert_eq!(
        after.account(&sender.address()),
        Account {
            nonce: 3,
            balance: wei(1_000_000) - fee,
        }
    );
    assert_eq!(
        execution.write_sets[&0].accounts,
        vec![(sender.address(), after.account(&sender.address()))]
    );
    assert_eq!(after.balance(&fee_recipient()), fee);
}

#[test]
fn a_transfer_to_a_new_account_creates_it() {
    let config = default_config();
    let sender = key_in_shard(900, 0);
    let fresh = address_in_shard(0, 0x2a);
    let untouched = address_in_shard(2, 0x2b);
    let world = World::new(config.layout())
        .with(sender.address(), 0, 1_000_000)
        .with(untouched, 0, 1);
    assert!(!world.accounts.contains_key(&fresh));
    let tx = signed(transfer(0, fresh, 1_234), &sender);
    let execution = run(&config, &world, &[tx]);
    let after = after(&world, &execution);
    assert_eq!(after.account(&fresh), Account::with_balance(wei(1_234)));
    let mut expected = vec![
        (fresh, Account::with_balance(wei(1_234))),
        (sender.address(), after.account(&sender.address())),
    ];
    expected.sort_by_key(|(address, _)| *address);
    assert_eq!(
        execution.write_sets[&0].accounts, expected,
        "sorted by address"
    );
}

#[test]
fn a_zero_value_transfer_to_a_new_account_does_not_create_it() {
    // Accounts are created by receiving value (as after EIP-161, no empty accounts).
    let config = default_config();
    let sender = key_in_shard(950, 0);
    let fresh = address_in_shard(1, 0x2c);
    let world = World::new(config.layout()).with(sender.address(), 0, 1_000_000);
    let execution = run(&config, &world, &[signed(transfer(0, fresh, 0), &sender)]);
    assert_eq!(execution.included, vec![0]);
    assert!(!execution.write_sets.contains_key(&1));
    let after = after(&world, &execution);
    assert!(!after.accounts.contains_key(&fresh));
}

#[test]
fn a_cross_shard_transfer_writes_each_touched_shard() {
    // Sender in shard 0, recipient in shard 1, fee recipient in shard 3, shard 2 untouched.
    let config = default_config();
    let sender = key_in_shard(1_000, 0);
    let recipient = address_in_shard(1, 0x61);
    let bystander = address_in_shard(2, 0x62);
    let world = World::new(config.layout())
        .with(sender.address(), 0, 1_000_000)
        .with(address_in_shard(0, 0x63), 4, 77)
        .with(recipient, 1, 10)
        .with(bystander, 0, 99)
        .with(fee_recipient(), 0, 1);
    let tx = signed(transfer(0, recipient, 500), &sender);
    let witness = world.witness_for(&config, std::slice::from_ref(&tx));
    let before_roots = witness.shard_roots.clone();
    assert_eq!(before_roots, world.shard_roots());
    let execution = execute(
        &config,
        &world.state_root(),
        7,
        BlockFormat::PROPOSED,
        &[tx],
        witness,
    )
    .expect("executes");
    let after = after(&world, &execution);
    let after_roots = after.shard_roots();

    assert_eq!(
        execution.write_sets.keys().copied().collect::<Vec<_>>(),
        vec![0, 1, 3]
    );
    let changed = [(0, sender.address()), (1, recipient), (3, fee_recipient())];
    for (shard, address) in changed {
        let write_set = &execution.write_sets[&shard];
        assert_eq!(
            *write_set,
            WriteSet {
                height: 7,
                shard,
                base_root: before_roots[usize::from(shard)],
                new_root: after_roots[usize::from(shard)],
                accounts: vec![(address, after.account(&address))],
            }
        );
        assert_ne!(write_set.base_root, write_set.new_root);
    }
    assert_eq!(after_roots[2], before_roots[2], "shard 2 is untouched");
    assert_eq!(
        after.account(&recipient),
        Account {
            nonce: 1,
            balance: wei(510)
        }
    );
    assert_eq!(
        after.balance(&fee_recipient()),
        wei(1) + fee_at(BASE_FEE + 1)
    );
}

#[test]
fn a_zero_fee_chain_writes_nothing_for_the_fee_recipient() {
    let config = chain_config(SHARD_BITS, 0, fee_recipient());
    let legacy = key_in_shard(1_100, 0);
    let dynamic = key_in_shard(1_200, 1);
    let to = address_in_shard(1, 0x71);
    let world = World::new(config.layout())
        .with(legacy.address(), 0, 1_000)
        .with(dynamic.address(), 0, 1_000);
    let free = |kind| Transfer {
        kind,
        max_fee_per_gas: 0,
        max_priority_fee_per_gas: 0,
        ..transfer(0, to, 1_000)
    };
    let txs = [
        signed(free(TxKind::Legacy), &legacy),
        signed(free(TxKind::DynamicFee), &dynamic),
    ];
    let execution = run(&config, &world, &txs);
    assert_eq!(execution.included, vec![0, 1]);
    for receipt in &execution.receipts {
        assert_eq!(receipt.effective_gas_price, 0);
        assert_eq!(receipt.fee, U256::ZERO);
    }
    assert!(
        !execution.write_sets.contains_key(&3),
        "no write for the fee recipient's shard"
    );
    let after = after(&world, &execution);
    assert!(!after.accounts.contains_key(&fee_recipient()));
    assert_eq!(after.balance(&legacy.address()), U256::ZERO);
    assert_eq!(after.balance(&to), wei(2_000));
}

#[test]
fn touched_addresses_are_senders_recipients_and_the_fee_recipient_once_each() {
    let config = default_config();
    let alice = key(1_300);
    let bob = key(1_301);
    let carol = address_in_shard(2, 0x72);
    let txs = [
        signed(transfer(0, bob.address(), 1), &alice),
        signed(transfer(0, carol, 1), &bob),
        signed(transfer(1, carol, 1), &alice),
        signed(transfer(0, fee_recipient(), 1), &alice),
    ];
    let mut expected = vec![alice.address(), bob.address(), carol, fee_recipient()];
    expected.sort();
    assert_eq!(touched_addresses(&config, &txs), expected);
    assert_eq!(touched_addresses(&config, &[]), vec![fee_recipient()]);
}

#[test]
fn a_witness_of_another_state_is_refused() {
    let config = default_config();
    let sender = key_in_shard(1_400, 0);
    let to = address_in_shard(1, 0x81);
    let world = World::new(config.layout()).with(sender.address(), 0, 1_000_000);
    let other = world.clone().with(sender.address(), 0, 1_000_001);
    let txs = [signed(transfer(0, to, 1), &sender)];

    // A consistent witness of another state root.
    let error = execute(
        &config,
        &world.state_root(),
        1,
        BlockFormat::PROPOSED,
        &txs,
        other.witness_for(&config, &txs),
    )
    .expect_err("witness of another state");
    assert_eq!(
        error,
        ExecutionError::Witness(TrieError::StateRootMismatch {
            expected: world.state_root(),
            got: other.state_root(),
        })
    );

    // The right shard roots, but a part proving other accounts.
    let mut forged = world.witness_for(&config, &txs);
    forged.parts = other.witness_for(&config, &txs).parts;
    let error = execute(
        &config,
        &world.state_root(),
        1,
        BlockFormat::PROPOSED,
        &txs,
        forged,
    )
    .expect_err("forged part");
    assert_eq!(
        error,
        ExecutionError::Witness(TrieError::ShardRootMismatch {
            shard: 0,
            expected: world.shard_roots()[0],
            got: other.shard_roots()[0],
        })
    );
}

#[test]
fn a_witness_missing_a_touched_account_is_refused() {
    let config = default_config();
    let sender = key_in_shard(1_500, 0);
    let neighbour = key_in_shard(1_600, 0);
    let far = address_in_shard(1, 0x91);
    let world = World::new(config.layout())
        .with(sender.address(), 0, 1_000_000)
        .with(neighbour.address(), 0, 5)
        .with(far, 0, 5)
        .with(fee_recipient(), 0, 5);
    let state_root = world.state_root();
    let not_in_witness = |address| ExecutionError::Witness(TrieError::NotInWitness { address });
    let run = |txs: &[VerifiedTx], witness| {
        execute(&config, &state_root, 1, BlockFormat::PROPOSED, txs, witness)
    };

    // Recipient in a shard without a part.
    let txs = [signed(transfer(0, far, 1), &sender)];
    let witness = world.witness(&[sender.address(), fee_recipient()]);
    let error = run(&txs, witness).expect_err("no part");
    assert_eq!(error, not_in_witness(far));

    // Recipient in the sender's shard, its path pruned.
    let txs = [signed(transfer(0, neighbour.address(), 1), &sender)];
    let witness = world.witness(&[sender.address(), fee_recipient()]);
    let error = run(&txs, witness).expect_err("pruned path");
    assert_eq!(error, not_in_witness(neighbour.address()));

    // The fee recipient, needed only after the last transaction.
    let witness = world.witness(&[sender.address(), neighbour.address()]);
    let error = run(&txs, witness).expect_err("no fee recipient");
    assert_eq!(error, not_in_witness(fee_recipient()));
}

#[test]
fn more_than_the_block_limit_is_refused() {
    let config = default_config();
    let sender = key(1_700);
    let world = World::new(config.layout()).with(sender.address(), 0, 1_000_000_000);
    let tx = signed(transfer(0, address_in_shard(1, 1), 1), &sender);
    let witness = world.witness_for(&config, std::slice::from_ref(&tx));

    let too_many = vec![tx.clone(); BLOCK_TXS_MAX + 1];
    let error = execute(
        &config,
        &world.state_root(),
        1,
        BlockFormat::PROPOSED,
        &too_many,
        witness.clone(),
    )
    .expect_err("over the limit");
    assert_eq!(
        error,
        ExecutionError::TooManyTransactions {
            got: BLOCK_TXS_MAX + 1,
            max: BLOCK_TXS_MAX,
        }
    );

    // At the limit the block executes: the copies after the first are nonce-too-low.
    let at_limit = vec![tx; BLOCK_TXS_MAX];
    let execution = execute(
        &config,
        &world.state_root(),
        1,
        BlockFormat::PROPOSED,
        &at_limit,
        witness,
    )
    .expect("at the limit");
    assert_eq!(execution.included, vec![0]);
    assert_eq!(execution.excluded.len(), BLOCK_TXS_MAX - 1);
}

/// A random block on `world`: valid, nonce-gapped, replayed, unaffordable and underpriced
/// transfers of every kind, to users, new accounts, the fee recipient and oneself.
fn random_block(
    random: &mut SplitMix64,
    config: &ChainConfig,
    world: &World,
    users: &[SecretKey],
    count: usize,
) -> Vec<VerifiedTx> {
    let mut next_nonce: BTreeMap<Address, u64> = BTreeMap::new();
    (0..count)
        .map(|_| {
            let sender = &users[random.below(users.len() as u64) as usize];
            let nonce_slot = next_nonce
                .entry(sender.address())
                .or_insert_with(|| world.account(&sender.address()).nonce);
            let nonce = match random.below(10) {
                0 => *nonce_slot + 1,
                1 => nonce_slot.saturating_sub(1),
                _ => {
                    *nonce_slot += 1;
                    *nonce_slot - 1
                }
            };
            let to = match random.below(20) {
                0..=9 => users[random.below(users.len() as u64) as usize].address(),
                10..=14 => {
                    let mut bytes = [0u8; 20];
                    for byte in &mut bytes {
                        *byte = random.below(256) as u8;
                    }
                    Address(bytes)
                }
                15..=16 => config.fee_recipient,
                _ => sender.address(),
            };
            let kind =
                [TxKind::Legacy, TxKind::AccessList, TxKind::DynamicFee][random.below(3) as usize];
            let max_fee = if random.chance(10) {
                config.base_fee_per_gas.saturating_sub(1)
            } else {
                config.base_fee_per_gas + u128::from(random.below(6))
            };
            let priority = u128::from(random.below(4)).min(max_fee);
            let transfer = Transfer {
                kind,
                chain_id: config.chain_id,
                nonce,
                max_fee_per_gas: max_fee,
                max_priority_fee_per_gas: priority,
                gas_limit: TRANSFER_GAS + random.below(10_000),
                to,
                value: U256::from(random.below(800_000)),
            };
            signed(transfer, sender)
        })
        .collect()
}

/// The rules written out once more, on a plain map.
struct Reference {
    included: Vec<usize>,
    excluded: Vec<(Hash, Exclusion)>,
    prices: Vec<u128>,
    after: World,
}

fn reference_execute(config: &ChainConfig, world: &World, txs: &[VerifiedTx]) -> Reference {
    let base_fee = config.base_fee_per_gas;
    let mut after = world.clone();
    let mut included = Vec::new();
    let mut excluded = Vec::new();
    let mut prices = Vec::new();
    let mut fees = U256::ZERO;
    for (index, tx) in txs.iter().enumerate() {
        let transfer = tx.transfer();
        let sender = after.account(&tx.sender);
        let up_front =
            U256::from(transfer.gas_limit) * U256::from(transfer.max_fee_per_gas) + transfer.value;
        let exclusion = if transfer.nonce < sender.nonce {
            Some(Exclusion::NonceTooLow {
                expected: sender.nonce,
                got: transfer.nonce,
            })
        } else if transfer.nonce > sender.nonce {
            Some(Exclusion::NonceAhead {
                expected: sender.nonce,
                got: transfer.nonce,
            })
        } else if transfer.max_fee_per_gas < base_fee {
            Some(Exclusion::FeeTooLow { base_fee })
        } else if sender.balance < up_front {
            Some(Exclusion::InsufficientFunds {
                balance: sender.balance,
                cost: up_front,
            })
        } else {
            None
        };
        if let Some(exclusion) = exclusion {
            excluded.push((tx.hash(), exclusion));
            continue;
        }
        let price = match transfer.kind {
            TxKind::Legacy | TxKind::AccessList => transfer.max_fee_per_gas,
            TxKind::DynamicFee => transfer
                .max_fee_per_gas
                .min(base_fee + transfer.max_priority_fee_per_gas),
        };
        let fee = fee_at(price);
        after.accounts.insert(
            tx.sender,
            Account {
                nonce: sender.nonce + 1,
                balance: sender.balance - fee - transfer.value,
            },
        );
        if transfer.value > U256::ZERO {
            let mut recipient = after.account(&transfer.to);
            recipient.balance += transfer.value;
            after.accounts.insert(transfer.to, recipient);
        }
        fees += fee;
        included.push(index);
        prices.push(price);
    }
    if fees > U256::ZERO {
        let mut recipient = after.account(&config.fee_recipient);
        recipient.balance += fees;
        after.accounts.insert(config.fee_recipient, recipient);
    }
    Reference {
        included,
        excluded,
        prices,
        after,
    }
}

/// Sum of the balances of `addresses` in `world`.
fn balances(world: &World, addresses: &[Address]) -> U256 {
    addresses
        .iter()
        .fold(U256::ZERO, |sum, address| sum + world.balance(address))
}

#[test]
fn random_blocks_follow_the_reference_rules_and_conserve_supply() {
    for (seed, shard_bits) in [(1u64, 0u8), (2, 2), (3, 3)] {
        let mut random = SplitMix64::new(seed);
        let config = chain_config(shard_bits, BASE_FEE, fee_recipient());
        let users: Vec<SecretKey> = (0..6).map(|i| key(2_000 + 10 * seed + i)).collect();
        let mut world = World::new(config.layout());
        for user in &users {
            world = world.with(user.address(), 0, random.below(3_000_000));
        }
        for height in 1..=3 {
            let txs = random_block(&mut random, &config, &world, &users, 24);
            let witness = world.witness_for(&config, &txs);
            let execution = execute(
                &config,
                &world.state_root(),
                height,
                BlockFormat::PROPOSED,
                &txs,
                witness,
            )
            .unwrap_or_else(|error| unreachable!("seed {seed}: {error}"));
            let expected = reference_execute(&config, &world, &txs);
            let context = format!("seed {seed} height {height}");
            assert_eq!(execution.included, expected.included, "{context}");
            assert_eq!(execution.excluded, expected.excluded, "{context}");
            let prices: Vec<u128> = execution
                .receipts
                .iter()
                .map(|receipt| receipt.effective_gas_price)
                .collect();
            assert_eq!(prices, expected.prices, "{context}");
            let mut next = world.clone();
            next.apply(&execution.write_sets);
            assert_eq!(next, expected.after, "{context}");
            assert_eq!(
                execution.state_root,
                expected.after.state_root(),
                "{context}"
            );
            for write_set in execution.write_sets.values() {
                assert_eq!(write_set.height, height);
            }
            let touched = touched_addresses(&config, &txs);
            assert_eq!(
                balances(&world, &touched),
                balances(&next, &touched),
                "{context}: supply over the touched accounts"
            );
            assert_eq!(world.supply(), next.supply(), "{context}");
            world = next;
        }
    }
}

#[test]
fn execution_is_deterministic_and_exclusions_change_nothing() {
    let mut random = SplitMix64::new(42);
    let config = default_config();
    let users: Vec<SecretKey> = (0..5).map(|i| key(3_000 + i)).collect();
    let mut world = World::new(config.layout());
    for user in &users {
        world = world.with(user.address(), 0, 500_000 + random.below(2_000_000));
    }
    let txs = random_block(&mut random, &config, &world, &users, 24);
    let witness = world.witness_for(&config, &txs);
    let parent = world.state_root();
    let run = || {
        let format = BlockFormat::PROPOSED;
        execute(&config, &parent, 1, format, &txs, witness.clone()).expect("executes")
    };
    let (first, second) = (run(), run());
    assert_eq!(first, second);
    assert!(!first.included.is_empty() && !first.excluded.is_empty());

    let subset: Vec<VerifiedTx> = first
        .included
        .iter()
        .map(|index| txs[*index].clone())
        .collect();
    let narrow_witness = world.witness_for(&config, &subset);
    for witness in [witness, narrow_witness] {
        let replay = execute(&config, &parent, 1, BlockFormat::PROPOSED, &subset, witness)
            .expect("subset executes");
        assert_eq!(replay.included, (0..subset.len()).collect::<Vec<_>>());
        assert!(replay.excluded.is_empty());
        assert_eq!(replay.state_root, first.state_root);
        assert_eq!(replay.shard_roots(), first.shard_roots());
        assert_eq!(replay.transactions_root, first.transactions_root);
        assert_eq!(replay.receipts, first.receipts);
        assert_eq!(replay.receipts_root, first.receipts_root);
        assert_eq!(replay.write_sets, first.write_sets);
    }
}

/// Write sets and exclusions cross the wire (sequencer → shard, sequencer storage): every one
/// must survive the canonical encoding unchanged.
#[cfg(not(target_arch = "wasm32"))]
mod encoding {
    use super::*;
    use crate::codec;
    use crate::mempool::AdmissionRejection;
    use proptest::prelude::*;

    fn accounts() -> impl Strategy<Value = Vec<(Address, Account)>> {
        prop::collection::vec(
            (any::<[u8; 20]>(), any::<u64>(), any::<[u8; 32]>()).prop_map(
                |(address, nonce, balance)| {
                    let balance = U256::from_be_bytes(balance);
                    (Address(address), Account { nonce, balance })
                },
            ),
            0..20,
        )
    }

    fn exclusions() -> impl Strategy<Value = Exclusion> {
        prop_oneof![
            (any::<u64>(), any::<u64>())
                .prop_map(|(expected, got)| Exclusion::NonceTooLow { expected, got }),
            (any::<u64>(), any::<u64>())
                .prop_map(|(expected, got)| Exclusion::NonceAhead { expected, got }),
            any::<u128>().prop_map(|base_fee| Exclusion::FeeTooLow { base_fee }),
            (any::<[u8; 32]>(), any::<[u8; 32]>()).prop_map(|(balance, cost)| {
                Exclusion::InsufficientFunds {
                    balance: U256::from_be_bytes(balance),
                    cost: U256::from_be_bytes(cost),
                }
            }),
        ]
    }

    fn round_trip<T>(value: &T) -> T
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
    {
        codec::decode(&codec::encode(value), usize::MAX).expect("decodes")
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn write_sets_round_trip(
            height in any::<u64>(),
            shard in any::<u16>(),
            base_root in any::<[u8; 32]>(),
            new_root in any::<[u8; 32]>(),
            accounts in accounts(),
        ) {
            let write_set = WriteSet {
                height,
                shard,
                base_root: Hash(base_root),
                new_root: Hash(new_root),
                accounts,
            };
            prop_assert_eq!(round_trip(&write_set), write_set);
        }

        #[test]
        fn exclusions_round_trip_in_msgpack_and_json(exclusion in exclusions()) {
            prop_assert_eq!(round_trip(&exclusion), exclusion);
            let json = serde_json::to_string(&exclusion).expect("json");
            prop_assert_eq!(serde_json::from_str::<Exclusion>(&json).expect("json"), exclusion);
        }

        #[test]
        fn admission_rejections_round_trip(offered in any::<u128>(), base_fee in any::<u128>(), nonce in any::<u64>()) {
            for rejection in [
                AdmissionRejection::FeeTooLow { offered, base_fee },
                AdmissionRejection::NonceAlreadyPending { nonce },
                AdmissionRejection::MempoolFull { limit: 7 },
            ] {
                prop_assert_eq!(round_trip(&rejection), rejection);
            }
        }
    }
}
