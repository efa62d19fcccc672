//! The reference model: the chain as the harness believes it must be, rebuilt from each
//! committed block's receipts with the transfer rules written out independently of
//! `ledger::execution`, and compared with what the shards hold.

use std::collections::BTreeMap;

use ledger::block::{CertifiedBlock, Header};
use ledger::execution::WriteSet;
use ledger::genesis::Genesis;
use ledger::shard::{MemoryShardStore, Shard};
use ledger::transaction::{self, Transfer, TxKind};
use ledger::trie::root_over_shards;
use ledger::{Account, Address, Hash, ShardLayout, U256};

use crate::report::{Violation, ensure};

/// Gas of a value transfer.
const TRANSFER_GAS: u64 = 21_000;

/// The certified chain and the state it must have produced.
#[derive(Debug)]
pub(crate) struct Model {
    chain_id: u64,
    layout: ShardLayout,
    base_fee_per_gas: u128,
    fee_recipient: Address,
    accounts: BTreeMap<Address, Account>,
    supply: U256,
    /// Committed headers by height, genesis first.
    headers: Vec<Header>,
    /// Every shard's certified root by height.
    shard_roots: Vec<Vec<Hash>>,
}

impl Model {
    /// The chain at genesis.
    pub(crate) fn new(genesis: &Genesis) -> Self {
        let accounts = genesis
            .accounts
            .iter()
            .map(|account| {
                let state = Account {
                    nonce: 0,
                    balance: account.balance,
                };
                (account.address, state)
            })
            .collect();
        Self {
            chain_id: genesis.config.chain_id,
            layout: genesis.config.layout(),
            base_fee_per_gas: genesis.config.base_fee_per_gas,
            fee_recipient: genesis.config.fee_recipient,
            accounts,
            supply: genesis.total_supply().expect("valid genesis"),
            headers: vec![genesis.header().expect("genesis header")],
            shard_roots: vec![genesis.shard_roots().expect("genesis roots")],
        }
    }

    /// The chain's id.
    pub(crate) fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// Height of the last committed block.
    pub(crate) fn height(&self) -> u64 {
        self.headers.len() as u64 - 1
    }

    /// Every shard's certified root at `height`.
    pub(crate) fn shard_roots_at(&self, height: u64) -> &[Hash] {
        &self.shard_roots[height as usize]
    }

    /// An account at the head (the empty account if it does not exist).
    pub(crate) fn account(&self, address: &Address) -> Account {
        self.accounts.get(address).copied().unwrap_or_default()
    }

    /// A committed block: it must extend the head, carry receipts that follow the transfer
    /// rules, and write exactly what those receipts change.
    pub(crate) fn commit(
        &mut self,
        block: &CertifiedBlock,
        shard_roots: &[Hash],
        write_sets: &[WriteSet],
    ) -> Result<(), Violation> {
        let header = &block.header;
        let head = self.headers[self.headers.len() - 1];
        ensure!(
            header.height == head.height + 1 && header.parent_hash == head.hash(),
            Chain,
            "block {} at height {} does not extend the head {} at height {}",
            header.hash(),
            header.height,
            head.hash(),
            head.height
        );
        let consistent = block.check_consistency();
        ensure!(
            consistent.is_ok(),
            Chain,
            "block {}: {consistent:?}",
            header.height
        );
        ensure!(
            root_over_shards(shard_roots) == header.state_root,
            Execution,
            "height {}: shard roots do not give the certified state root",
            header.height
        );
        let originals = self.apply_receipts(block)?;
        self.check_write_sets(header.height, shard_roots, write_sets, &originals)?;
        self.headers.push(*header);
        self.shard_roots.push(shard_roots.to_vec());
        Ok(())
    }

    /// Applies each receipt after checking it against its transaction; returns the state
    /// before the block of every account the block touched.
    fn apply_receipts(
        &mut self,
        block: &CertifiedBlock,
    ) -> Result<BTreeMap<Address, Account>, Violation> {
        let height = block.header.height;
        let mut originals = BTreeMap::new();
        let mut fees = U256::ZERO;
        for (raw, receipt) in block.transactions.iter().zip(&block.receipts) {
            let verified = transaction::decode(raw, self.chain_id)
                .ok()
                .and_then(|signed| signed.recover().ok());
            let Some(verified) = verified else {
                return Err(Violation {
                    invariant: crate::report::Invariant::Execution,
                    detail: format!("height {height}: a committed transaction does not recover"),
                });
            };
            let transfer = *verified.transfer();
            let price = effective_gas_price(&transfer, self.base_fee_per_gas);
            let fee = U256::from(TRANSFER_GAS) * U256::from(price.unwrap_or(0));
            ensure!(
                receipt.tx_hash == verified.hash()
                    && receipt.sender == verified.sender
                    && receipt.to == transfer.to
                    && receipt.nonce == transfer.nonce
                    && receipt.value == transfer.value
                    && receipt.gas_used == TRANSFER_GAS
                    && Some(receipt.effective_gas_price) == price
                    && receipt.fee == fee,
                Execution,
                "height {height}: receipt {receipt:?} does not match its transaction {transfer:?}"
            );
            for address in [verified.sender, transfer.to] {
                originals.entry(address).or_insert(self.account(&address));
            }
            let mut sender = self.account(&verified.sender);
            let cost = U256::from(transfer.gas_limit) * U256::from(transfer.max_fee_per_gas)
                + transfer.value;
            ensure!(
                sender.nonce == transfer.nonce && sender.balance >= cost,
                Execution,
                "height {height}: {} included with nonce {} and cost {cost}, account {sender:?}",
                verified.hash(),
                transfer.nonce
            );
            sender.nonce += 1;
            sender.balance -= fee + transfer.value;
            self.accounts.insert(verified.sender, sender);
            let mut recipient = self.account(&transfer.to);
            recipient.balance += transfer.value;
            self.accounts.insert(transfer.to, recipient);
            fees += fee;
        }
        originals
            .entry(self.fee_recipient)
            .or_insert(self.account(&self.fee_recipient));
        let mut recipient = self.account(&self.fee_recipient);
        recipient.balance += fees;
        self.accounts.insert(self.fee_recipient, recipient);
        Ok(originals)
    }

    /// One write set per shard whose root moved, from the previous certified root to the new
    /// one, together holding exactly the accounts whose state changed, in their new state.
    fn check_write_sets(
        &self,
        height: u64,
        shard_roots: &[Hash],
        write_sets: &[WriteSet],
        originals: &BTreeMap<Address, Account>,
    ) -> Result<(), Violation> {
        let before = &self.shard_roots[self.shard_roots.len() - 1];
        ensure!(
            shard_roots.len() == before.len(),
            Execution,
            "height {height}: {} shard roots for {} shards",
            shard_roots.len(),
            before.len()
        );
        let mut written = BTreeMap::new();
        for set in write_sets {
            let shard = usize::from(set.shard);
            ensure!(
                set.height == height
                    && set.base_root == before[shard]
                    && set.new_root == shard_roots[shard],
                Execution,
                "height {height}: write set of shard {shard} does not go from the previous \
                 certified root to the new one"
            );
            for (address, account) in &set.accounts {
                ensure!(
                    self.layout.shard_of(address) == set.shard,
                    Execution,
                    "height {height}: {address} written to shard {shard}"
                );
                written.insert(*address, *account);
            }
        }
        for (shard, (old, new)) in before.iter().zip(shard_roots).enumerate() {
            let touched = write_sets.iter().any(|set| usize::from(set.shard) == shard);
            ensure!(
                old == new || touched,
                Execution,
                "height {height}: shard {shard}'s root moved without a write set"
            );
        }
        let changed: BTreeMap<Address, Account> = originals
            .iter()
            .filter(|(address, original)| self.account(address) != **original)
            .map(|(address, _)| (*address, self.account(address)))
            .collect();
        ensure!(
            written == changed,
            Execution,
            "height {height}: write sets hold {written:?}, the receipts change {changed:?}"
        );
        Ok(())
    }

    /// Whether every shard holds its root at the head: no block's writes are half applied.
    /// This is the consistent point at which supply and state are compared.
    pub(crate) fn shards_at_head(&self, shards: &[Shard<MemoryShardStore>]) -> bool {
        let roots = self.shard_roots_at(self.height());
        shards
            .iter()
            .zip(roots)
            .all(|(shard, root)| shard.meta().root == *root)
    }

    /// At a consistent point: the shards give the head's state root, conserve the supply
    /// and hold exactly the model's accounts, each in its own shard.
    pub(crate) fn check_shards(&self, shards: &[Shard<MemoryShardStore>]) -> Result<(), Violation> {
        let head = &self.headers[self.headers.len() - 1];
        let roots: Vec<Hash> = shards.iter().map(|shard| shard.meta().root).collect();
        ensure!(
            root_over_shards(&roots) == head.state_root,
            ShardRoots,
            "the shards do not give the state root of height {}",
            head.height
        );
        let mut supply = U256::ZERO;
        let mut held = 0;
        for shard in shards {
            for (address, account) in shard.store().accounts() {
                ensure!(
                    self.layout.shard_of(address) == shard.meta().shard,
                    State,
                    "{address} is stored in shard {}",
                    shard.meta().shard
                );
                ensure!(
                    self.account(address) == *account,
                    State,
                    "{address} holds {account:?}, the model {:?}",
                    self.account(address)
                );
                supply += account.balance;
                held += 1;
            }
        }
        let expected = self.accounts.values().filter(|a| **a != Account::default());
        ensure!(
            expected.count() == held,
            State,
            "the shards hold {held} accounts, the model more"
        );
        ensure!(
            supply == self.supply,
            Supply,
            "balances sum to {supply}, genesis supply is {}",
            self.supply
        );
        Ok(())
    }
}

/// Ethereum's rule with a fixed base fee: legacy and EIP-2930 pay their gas price, EIP-1559
/// pays the base fee plus the tip, capped by the fee cap. `None` below the base fee.
pub(crate) fn effective_gas_price(transfer: &Transfer, base_fee_per_gas: u128) -> Option<u128> {
    if transfer.max_fee_per_gas < base_fee_per_gas {
        return None;
    }
    Some(match transfer.kind {
        TxKind::Legacy | TxKind::AccessList => transfer.max_fee_per_gas,
        TxKind::DynamicFee => transfer
            .max_fee_per_gas
            .min(base_fee_per_gas + transfer.max_priority_fee_per_gas),
    })
}
