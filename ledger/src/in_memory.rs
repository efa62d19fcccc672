//! A chain's shards held in memory: for tests, benchmarks, the simulation and tools.
//!
//! It plays the part of the shard Durable Objects: built from a genesis, it answers the
//! witness requests the sequencer would send (grouped by [`witness_requests`]) and applies
//! committed write sets, through the same [`Shard`] state machine the Durable Objects run.

use std::collections::BTreeMap;

use crate::execution::WriteSet;
use crate::genesis::Genesis;
use crate::primitives::{Address, Hash, U256};
use crate::shard::{ApplyOutcome, MemoryShardStore, Shard, ShardResult, WitnessRequest};
use crate::state::{Account, ShardIndex, ShardLayout};
use crate::trie::{Witness, root_over_shards};

/// One witness request per shard owning some of `addresses`, each against that shard's root
/// in `shard_roots`: what the sequencer sends before executing a block.
pub fn witness_requests(
    layout: ShardLayout,
    shard_roots: &[Hash],
    addresses: &[Address],
) -> Vec<WitnessRequest> {
    layout
        .group_by_shard(addresses)
        .into_iter()
        .map(|(shard, addresses)| WitnessRequest {
            shard,
            expected_root: shard_roots[usize::from(shard)],
            addresses,
        })
        .collect()
}

/// Every shard of a chain, in memory.
#[derive(Debug)]
pub struct InMemoryShards {
    layout: ShardLayout,
    shards: Vec<Shard<MemoryShardStore>>,
}

impl InMemoryShards {
    /// The shards of a chain at genesis.
    pub fn from_genesis(genesis: &Genesis) -> ShardResult<Self> {
        let layout = genesis.config.layout();
        let mut accounts = genesis.shard_accounts();
        let shards = (0..layout.shard_count())
            .map(|index| {
                // At most 256 shards, so the index fits.
                let index = index as ShardIndex;
                let shard_accounts = accounts.remove(&index).unwrap_or_default();
                Shard::initialise(layout, index, MemoryShardStore::default(), &shard_accounts)
            })
            .collect::<ShardResult<Vec<_>>>()?;
        Ok(Self { layout, shards })
    }

    /// The shard layout.
    pub const fn layout(&self) -> ShardLayout {
        self.layout
    }

    /// One shard.
    pub fn shard(&self, index: ShardIndex) -> &Shard<MemoryShardStore> {
        &self.shards[usize::from(index)]
    }

    /// One shard, to apply or answer requests by hand.
    pub fn shard_mut(&mut self, index: ShardIndex) -> &mut Shard<MemoryShardStore> {
        &mut self.shards[usize::from(index)]
    }

    /// Every shard, in index order.
    pub fn iter(&self) -> impl Iterator<Item = &Shard<MemoryShardStore>> {
        self.shards.iter()
    }

    /// Every shard's committed root, in index order.
    pub fn roots(&self) -> Vec<Hash> {
        self.shards.iter().map(|shard| shard.meta().root).collect()
    }

    /// The state root over the shard roots.
    pub fn state_root(&self) -> Hash {
        root_over_shards(&self.roots())
    }

    /// An account's committed state (the default, empty account if it does not exist).
    pub fn account(&self, address: &Address) -> ShardResult<Account> {
        let shard = self.shard(self.layout.shard_of(address));
        Ok(shard.account(address)?.unwrap_or_default())
    }

    /// Every account, shard by shard, in address order.
    pub fn accounts(&self) -> impl Iterator<Item = (&Address, &Account)> {
        self.shards
            .iter()
            .flat_map(|shard| shard.store().accounts())
    }

    /// The sum of all balances.
    pub fn total_supply(&self) -> U256 {
        self.accounts()
            .fold(U256::ZERO, |sum, (_, account)| sum + account.balance)
    }

    /// The witness for `addresses` against the committed roots, gathered as the sequencer does.
    pub fn witness(&self, addresses: &[Address]) -> ShardResult<Witness> {
        let roots = self.roots();
        let parts = witness_requests(self.layout, &roots, addresses)
            .into_iter()
            .map(|request| Ok((request.shard, self.shard(request.shard).witness(&request)?)))
            .collect::<ShardResult<BTreeMap<_, _>>>()?;
        Ok(Witness {
            layout: self.layout,
            shard_roots: roots,
            parts,
        })
    }

    /// Applies a committed block's write sets to their shards.
    pub fn apply<'a>(
        &mut self,
        write_sets: impl IntoIterator<Item = &'a WriteSet>,
    ) -> ShardResult<Vec<ApplyOutcome>> {
        write_sets
            .into_iter()
            .map(|write_set| self.shard_mut(write_set.shard).apply(write_set))
            .collect()
    }
}

/// Block 1 of `genesis`'s chain, keeping the genesis state, certified by the validators whose
/// `keys` are given: a certified header with known state behind it, for tests, benchmarks and
/// tools that need one (snapshots, account proofs) without running the protocol.
///
/// Fails if the genesis is invalid or the keys are not a quorum of its validator set.
pub fn certified_block_one(
    genesis: &Genesis,
    keys: &[crate::signature::SecretKey],
) -> Result<(crate::block::Header, crate::consensus::QuorumCertificate), String> {
    use crate::consensus::{QuorumCertificate, Vote};
    let genesis_header = genesis.header().map_err(|error| error.to_string())?;
    // Empty, so its roots are the zero hash in every format; in the format a sequencer
    // proposes now, as block 1 is.
    let header = crate::block::Header {
        height: 1,
        parent_hash: genesis_header.hash(),
        timestamp_ms: genesis_header.timestamp_ms + 1,
        format: crate::block::BlockFormat::PROPOSED,
        ..genesis_header
    };
    let validators = &genesis.config.validators;
    let chain_id = genesis.config.chain_id;
    let votes = keys
        .iter()
        .map(|key| Vote::sign(key, validators, chain_id, 1, header.hash()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| error.to_string())?;
    let certificate = QuorumCertificate::assemble(validators, 1, header.hash(), &votes)
        .map_err(|error| error.to_string())?;
    Ok((header, certificate))
}
