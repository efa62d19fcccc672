//! Unit tests of the validator's proposal checks and votes: an honest chain of two blocks is
//! accepted, and each single tampering is refused with its own error.

use super::*;
use crate::block::BlockFormat;
use crate::consensus::SignedBlock;
use crate::execution::tests::{
    BASE_FEE, CHAIN_ID, World, address_in_shard, default_config, fee_recipient, key_in_shard,
    signed, transfer, validator_keys,
};
use crate::genesis::{Genesis, GenesisAccount};
use crate::primitives::{Address, U256};
use crate::state::Account;
use crate::transaction::TRANSFER_GAS;
use crate::trie::TrieError;

/// The validators' clock in every test.
const NOW_MS: u64 = 3_000;
const GENESIS_MS: u64 = 1_000;
const START_BALANCE: u64 = 1_000_000_000;

/// An honest chain: genesis, block 1 certified by three of four validators, block 2.
struct Chain {
    context: ChainContext,
    validators: Vec<SecretKey>,
    alice: SecretKey,
    bob: SecretKey,
    carol: Address,
    world_after_genesis: World,
    block_one: Proposal,
    certificate_one: QuorumCertificate,
    block_two: Proposal,
}

/// The proposal an honest sequencer makes for `txs` on `parent`, whose state is `world`, with
/// its roots in `format`.
fn propose(
    format: BlockFormat,
    context: &ChainContext,
    parent: &Header,
    parent_certificate: QuorumCertificate,
    world: &World,
    txs: &[VerifiedTx],
    timestamp_ms: u64,
) -> (Proposal, Execution) {
    let config = &context.config;
    let witness = world.witness_for(config, txs);
    let height = parent.height + 1;
    let execution = execute(
        config,
        &parent.state_root,
        height,
        format,
        txs,
        witness.clone(),
    )
    .expect("honest block executes");
    assert!(
        execution.excluded.is_empty(),
        "an honest block includes all"
    );
    let header = Header {
        chain_id: config.chain_id,
        height,
        parent_hash: parent.hash(),
        timestamp_ms,
        state_root: execution.state_root,
        transactions_root: execution.transactions_root,
        receipts_root: execution.receipts_root,
        validator_set_hash: config.validators.hash(),
        proposer: config.proposer,
        format: execution.format,
    };
    let proposal = Proposal {
        header,
        parent: *parent,
        parent_certificate,
        transactions: txs.iter().map(VerifiedTx::to_wire).collect(),
        witness,
    };
    (proposal, execution)
}

/// Votes of the first `count` of `validators` on `proposal`, each with a fresh guard.
fn votes(
    context: &ChainContext,
    validators: &[SecretKey],
    proposal: &Proposal,
    count: usize,
) -> Vec<Vote> {
    validators[..count]
        .iter()
        .map(|key| {
            vote_on_proposal(context, key, &Guard::new(), proposal, NOW_MS)
                .expect("an honest validator votes")
                .0
        })
        .collect()
}

fn chain() -> Chain {
    let config = default_config();
    let alice = key_in_shard(10_000, 0);
    let bob = key_in_shard(11_000, 1);
    let carol = address_in_shard(2, 0x0c);
    let genesis = Genesis {
        config: config.clone(),
        timestamp_ms: GENESIS_MS,
        accounts: [&alice, &bob]
            .iter()
            .map(|user| GenesisAccount {
                address: user.address(),
                balance: U256::from(START_BALANCE),
            })
            .collect(),
    };
    genesis.validate().expect("valid genesis");
    let genesis_header = genesis.header().expect("genesis header");
    let world = World::new(config.layout())
        .with(alice.address(), 0, START_BALANCE)
        .with(bob.address(), 0, START_BALANCE);
    assert_eq!(genesis_header.state_root, world.state_root());
    let context = ChainContext {
        genesis_hash: genesis_header.hash(),
        config,
    };

    let txs_one = [
        signed(transfer(0, bob.address(), 1_000), &alice),
        signed(transfer(0, carol, 500), &bob),
    ];
    // Block 1 as a sequencer made it before block format 2, block 2 as one makes it now: a
    // chain's format may change at any height, and validators follow each header's.
    let (block_one, execution_one) = propose(
        BlockFormat::V1,
        &context,
        &genesis_header,
        QuorumCertificate::genesis(),
        &world,
        &txs_one,
        2_000,
    );
    let mut world_one = world.clone();
    world_one.apply(&execution_one.write_sets);
    // The header commits to the state the rules give, worked out by hand.
    let fee = U256::from(TRANSFER_GAS) * U256::from(BASE_FEE + 1);
    let start = U256::from(START_BALANCE);
    let mut expected = World::new(context.config.layout());
    expected.accounts.insert(
        alice.address(),
        Account {
            nonce: 1,
            balance: start - U256::from(1_000u64) - fee,
        },
    );
    expected.accounts.insert(
        bob.address(),
        Account {
            nonce: 1,
            balance: start + U256::from(1_000u64) - U256::from(500u64) - fee,
        },
    );
    expected
        .accounts
        .insert(carol, Account::with_balance(U256::from(500u64)));
    expected
        .accounts
        .insert(fee_recipient(), Account::with_balance(fee + fee));
    assert_eq!(world_one, expected);
    assert_eq!(block_one.header.state_root, expected.state_root());

    let validators = validator_keys();
    let header_one = block_one.header;
    let certificate_one = QuorumCertificate::assemble(
        &context.config.validators,
        1,
        header_one.hash(),
        &votes(&context, &validators, &block_one, 3),
    )
    .expect("three of four is a quorum");
    certificate_one
        .verify(&context.config.validators, CHAIN_ID, &header_one)
        .expect("the certificate verifies for block 1");

    let txs_two = [
        signed(transfer(1, carol, 7), &alice),
        signed(transfer(1, alice.address(), 9), &bob),
    ];
    let (block_two, _) = propose(
        BlockFormat::PROPOSED,
        &context,
        &header_one,
        certificate_one.clone(),
        &world_one,
        &txs_two,
        2_500,
    );
    Chain {
        context,
        validators,
        alice,
        bob,
        carol,
        world_after_genesis: world,
        block_one,
        certificate_one,
        block_two,
    }
}

impl Chain {
    fn check(&self, proposal: &Proposal) -> ProposalResult<CheckedProposal> {
        check_proposal(&self.context, proposal, NOW_MS)
    }

    fn refuse(&self, proposal: &Proposal) -> ProposalError {
        self.check(proposal)
            .expect_err("a tampered proposal is refused")
    }

    /// Block 2 on a changed parent, with the header's parent hash following it.
    fn block_two_on(&self, change: impl FnOnce(&mut Header)) -> Proposal {
        let mut proposal = self.block_two.clone();
        change(&mut proposal.parent);
        proposal.header.parent_hash = proposal.parent.hash();
        proposal
    }
}

fn latest() -> u64 {
    NOW_MS + TIMESTAMP_DRIFT_MS_MAX
}

#[test]
fn honest_proposals_at_heights_one_and_two_are_accepted() {
    let chain = chain();
    for proposal in [&chain.block_one, &chain.block_two] {
        let checked = chain.check(proposal).expect("honest proposal accepted");
        assert_eq!(checked.block_hash, proposal.header.hash());
        let hashes: Vec<Hash> = checked.transactions.iter().map(VerifiedTx::hash).collect();
        let wire_hashes: Vec<Hash> = proposal
            .transactions
            .iter()
            .map(|tx| crate::primitives::keccak256(&tx.raw))
            .collect();
        assert_eq!(hashes, wire_hashes);
        assert_eq!(
            proposal.header.transactions_root,
            proposal.header.format.transactions_root(&wire_hashes)
        );
        assert_eq!(checked.execution.state_root, proposal.header.state_root);
        assert_eq!(
            checked.execution.included.len(),
            proposal.transactions.len()
        );
    }
    assert_eq!(chain.block_two.parent, chain.block_one.header);
    assert_eq!(chain.block_one.header.format, BlockFormat::V1);
    assert_eq!(chain.block_two.header.format, BlockFormat::PROPOSED);
}

#[test]
fn roots_are_checked_in_the_format_the_header_states() {
    let chain = chain();
    for (proposal, other) in [
        (&chain.block_one, BlockFormat::V2),
        (&chain.block_two, BlockFormat::V1),
    ] {
        let mut restated = proposal.clone();
        restated.header.format = other;
        let wire_hashes: Vec<Hash> = proposal
            .transactions
            .iter()
            .map(|tx| crate::primitives::keccak256(&tx.raw))
            .collect();
        assert_eq!(
            chain.refuse(&restated),
            ProposalError::RootMismatch {
                field: "transactions_root",
                got: proposal.header.transactions_root,
                expected: other.transactions_root(&wire_hashes),
            }
        );
    }
}

#[test]
fn receipt_leaves_are_checked_in_the_format_the_header_states() {
    // Formats 2 and 3 share the transactions tree: restated as format 2, a format-3 block's
    // receipts root no longer matches.
    let chain = chain();
    assert_eq!(chain.block_two.header.format, BlockFormat::V3);
    let mut restated = chain.block_two.clone();
    restated.header.format = BlockFormat::V2;
    assert!(matches!(
        chain.refuse(&restated),
        ProposalError::RootMismatch {
            field: "receipts_root",
            ..
        }
    ));
}

#[test]
fn another_chain_id_in_header_or_parent_is_refused() {
    let chain = chain();
    let wrong = |got| ProposalError::WrongChain {
        got,
        expected: CHAIN_ID,
    };
    let mut proposal = chain.block_one.clone();
    proposal.header.chain_id = 1;
    assert_eq!(chain.refuse(&proposal), wrong(1));

    let proposal = chain.block_two_on(|parent| parent.chain_id = 2);
    assert_eq!(chain.refuse(&proposal), wrong(2));
}

#[test]
fn a_height_other_than_parent_plus_one_is_refused() {
    let chain = chain();
    for (base, height) in [
        (&chain.block_one, 2),
        (&chain.block_one, 0),
        (&chain.block_two, 3),
    ] {
        let mut proposal = base.clone();
        proposal.header.height = height;
        assert_eq!(
            chain.refuse(&proposal),
            ProposalError::NotAChild("height"),
            "height {height}"
        );
    }
    // A parent at the top of the range has no child height.
    let proposal = chain.block_two_on(|parent| parent.height = u64::MAX);
    assert_eq!(chain.refuse(&proposal), ProposalError::NotAChild("height"));
}

#[test]
fn a_wrong_parent_hash_is_refused() {
    let chain = chain();
    for base in [&chain.block_one, &chain.block_two] {
        let mut proposal = base.clone();
        proposal.header.parent_hash = Hash([0x5a; 32]);
        assert_eq!(
            chain.refuse(&proposal),
            ProposalError::NotAChild("parent hash")
        );
    }
}

#[test]
fn height_one_must_sit_on_the_configured_genesis() {
    let chain = chain();
    // Another block 0, consistently linked.
    let mut proposal = chain.block_one.clone();
    proposal.parent.timestamp_ms += 1;
    proposal.header.parent_hash = proposal.parent.hash();
    assert_eq!(chain.refuse(&proposal), ProposalError::WrongGenesis);

    // The right block 0, but a validator configured with another genesis.
    let mut context = chain.context.clone();
    context.genesis_hash = Hash([0x11; 32]);
    assert_eq!(
        check_proposal(&context, &chain.block_one, NOW_MS).expect_err("other genesis"),
        ProposalError::WrongGenesis
    );

    // The right block 0 must come with the genesis certificate, not block 1's.
    let mut proposal = chain.block_one.clone();
    proposal.parent_certificate = chain.block_two.parent_certificate.clone();
    assert_eq!(
        chain.refuse(&proposal),
        ProposalError::ParentCertificate(ConsensusError::Genesis)
    );
}

#[test]
fn the_parent_certificate_must_certify_the_parent() {
    let chain = chain();
    let parent_hash = chain.block_one.header.hash();
    let refuse_with = |certificate: QuorumCertificate| {
        let mut proposal = chain.block_two.clone();
        proposal.parent_certificate = certificate;
        chain.refuse(&proposal)
    };

    assert_eq!(
        refuse_with(QuorumCertificate::genesis()),
        ProposalError::ParentCertificate(ConsensusError::Genesis),
        "missing: the genesis certificate for a non-genesis parent"
    );
    let mut empty = chain.certificate_one.clone();
    empty.votes.clear();
    assert_eq!(
        refuse_with(empty),
        ProposalError::ParentCertificate(ConsensusError::BelowQuorum { got: 0, quorum: 3 })
    );
    let mut two = chain.certificate_one.clone();
    two.votes.truncate(2);
    assert_eq!(
        refuse_with(two),
        ProposalError::ParentCertificate(ConsensusError::BelowQuorum { got: 2, quorum: 3 })
    );
    let mut swapped = chain.certificate_one.clone();
    let (first, second) = (swapped.votes[0].1, swapped.votes[1].1);
    swapped.votes[0].1 = second;
    swapped.votes[1].1 = first;
    let first_index = swapped.votes[0].0;
    assert!(matches!(
        refuse_with(swapped),
        ProposalError::ParentCertificate(ConsensusError::InvalidSignature { validator, .. })
            if validator == first_index
    ));

    // The certificate of block 1 offered for another block 1.
    let proposal = chain.block_two_on(|parent| parent.timestamp_ms += 1);
    let altered_hash = proposal.parent.hash();
    assert_eq!(
        chain.refuse(&proposal),
        ProposalError::ParentCertificate(ConsensusError::WrongBlock {
            expected_height: 1,
            expected_hash: altered_hash,
            got_height: 1,
            got_hash: parent_hash,
        })
    );
}

#[test]
fn the_timestamp_must_follow_the_parent_and_not_run_ahead_of_the_clock() {
    let chain = chain();
    let with_timestamp = |base: &Proposal, timestamp_ms| {
        let mut proposal = base.clone();
        proposal.header.timestamp_ms = timestamp_ms;
        proposal
    };
    let parent_one = chain.block_one.parent.timestamp_ms;
    let parent_two = chain.block_two.parent.timestamp_ms;
    for (base, parent, got) in [
        (&chain.block_one, parent_one, parent_one),
        (&chain.block_one, parent_one, parent_one - 1),
        (&chain.block_two, parent_two, parent_two),
        (&chain.block_one, parent_one, latest() + 1),
    ] {
        assert_eq!(
            chain.refuse(&with_timestamp(base, got)),
            ProposalError::Timestamp {
                got,
                parent,
                latest: latest(),
            },
            "timestamp {got}"
        );
    }
    for accepted in [parent_one + 1, latest()] {
        chain
            .check(&with_timestamp(&chain.block_one, accepted))
            .expect("timestamp within bounds");
    }
}

#[test]
fn proposer_and_validator_set_must_be_the_chains() {
    let chain = chain();
    let mut proposal = chain.block_one.clone();
    proposal.header.proposer = address_in_shard(1, 0x99);
    assert_eq!(
        chain.refuse(&proposal),
        ProposalError::Configuration("proposer")
    );
    let mut proposal = chain.block_two.clone();
    proposal.header.validator_set_hash = Hash([0x22; 32]);
    assert_eq!(
        chain.refuse(&proposal),
        ProposalError::Configuration("validator_set_hash")
    );
}

#[test]
fn an_empty_or_oversized_transaction_list_is_refused() {
    let chain = chain();
    let mut proposal = chain.block_one.clone();
    proposal.transactions.clear();
    assert_eq!(chain.refuse(&proposal), ProposalError::TransactionCount(0));
    proposal.transactions = vec![chain.block_one.transactions[0].clone(); BLOCK_TXS_MAX + 1];
    assert_eq!(
        chain.refuse(&proposal),
        ProposalError::TransactionCount(BLOCK_TXS_MAX + 1)
    );
}

#[test]
fn a_signature_not_matching_its_public_key_is_refused() {
    let chain = chain();
    let mut proposal = chain.block_one.clone();
    let (first, second) = (
        proposal.transactions[0].public_key,
        proposal.transactions[1].public_key,
    );
    assert_ne!(first, second);
    proposal.transactions[0].public_key = second;
    proposal.transactions[1].public_key = first;
    assert_eq!(
        chain.refuse(&proposal),
        ProposalError::Transaction {
            index: 0,
            reason: TxRejection::SignatureMismatch,
        }
    );
}

/// A nonce y that is not its signature's (here another transaction's, on the curve but for
/// another x) fails the batch, and the one-by-one check then names that transaction; without
/// the y the same proposal is accepted, checked with the square roots.
#[test]
fn a_nonce_y_not_matching_its_signature_is_refused() {
    let chain = chain();
    let mut proposal = chain.block_one.clone();
    assert!(proposal.transactions.iter().all(|tx| tx.nonce_y.is_some()));
    proposal.transactions[1].nonce_y = proposal.transactions[0].nonce_y;
    assert_eq!(
        chain.refuse(&proposal),
        ProposalError::Transaction {
            index: 1,
            reason: TxRejection::SignatureMismatch,
        }
    );
    let mut without = chain.block_one.clone();
    for tx in &mut without.transactions {
        tx.nonce_y = None;
    }
    chain
        .check(&without)
        .expect("checked with the square roots");
}

#[test]
fn a_duplicate_transaction_is_refused() {
    let chain = chain();
    let mut proposal = chain.block_one.clone();
    let first = proposal.transactions[0].clone();
    proposal.transactions.push(first.clone());
    assert_eq!(
        chain.refuse(&proposal),
        ProposalError::DuplicateTransaction(crate::primitives::keccak256(&first.raw))
    );
}

#[test]
fn a_transaction_that_would_not_be_included_is_refused() {
    // The roots in the header are those of the included transactions, so only the
    // includability check stands between this block and a vote.
    let chain = chain();
    let ahead = signed(transfer(5, chain.bob.address(), 1), &chain.alice);
    let mut proposal = chain.block_one.clone();
    proposal.transactions.push(ahead.to_wire());
    assert_eq!(
        chain.refuse(&proposal),
        ProposalError::NotIncludable {
            hash: ahead.hash(),
            reason: Exclusion::NonceAhead {
                expected: 1,
                got: 5,
            },
        }
    );
}

#[test]
fn a_witness_of_another_state_is_refused() {
    let chain = chain();
    let other = chain
        .world_after_genesis
        .clone()
        .with(chain.alice.address(), 0, START_BALANCE + 1);
    let txs: Vec<VerifiedTx> = chain
        .block_one
        .transactions
        .iter()
        .map(|tx| tx.verify(CHAIN_ID).expect("valid"))
        .collect();
    let mut proposal = chain.block_one.clone();
    proposal.witness = other.witness_for(&chain.context.config, &txs);
    assert_eq!(
        chain.refuse(&proposal),
        ProposalError::Execution(ExecutionError::Witness(TrieError::StateRootMismatch {
            expected: chain.block_one.parent.state_root,
            got: other.state_root(),
        }))
    );

    // A witness of the right state that leaves out a recipient.
    proposal.witness = chain.world_after_genesis.witness(&[
        chain.alice.address(),
        chain.bob.address(),
        fee_recipient(),
    ]);
    assert_eq!(
        chain.refuse(&proposal),
        ProposalError::Execution(ExecutionError::Witness(TrieError::NotInWitness {
            address: chain.carol,
        }))
    );
}

/// Picks one root field of a header.
type RootField = fn(&mut Header) -> &mut Hash;

#[test]
fn each_altered_root_is_named() {
    let chain = chain();
    let altered = Hash([0x33; 32]);
    let fields: [(&str, RootField); 3] = [
        ("state_root", |header| &mut header.state_root),
        ("transactions_root", |header| &mut header.transactions_root),
        ("receipts_root", |header| &mut header.receipts_root),
    ];
    for (field, root) in fields {
        let mut proposal = chain.block_two.clone();
        let expected = *root(&mut proposal.header);
        *root(&mut proposal.header) = altered;
        assert_eq!(
            chain.refuse(&proposal),
            ProposalError::RootMismatch {
                field,
                got: altered,
                expected,
            }
        );
    }
}

#[test]
fn a_vote_is_signed_recorded_and_re_signed_idempotently() {
    let chain = chain();
    let key = &chain.validators[1];
    let set = &chain.context.config.validators;
    let block_hash = chain.block_one.header.hash();
    let (vote, guard) =
        vote_on_proposal(&chain.context, key, &Guard::new(), &chain.block_one, NOW_MS)
            .expect("votes");
    assert_eq!(vote.height, 1);
    assert_eq!(vote.block_hash, block_hash);
    assert_eq!(Some(vote.validator), set.index_of(&key.address()));
    vote.verify(set, CHAIN_ID).expect("vote verifies");
    assert!(
        vote.verify(set, CHAIN_ID + 1).is_err(),
        "bound to the chain"
    );
    assert_eq!(
        guard.last_signed(),
        Some(SignedBlock {
            height: 1,
            block_hash,
        })
    );

    let (again, guard_again) =
        vote_on_proposal(&chain.context, key, &guard, &chain.block_one, NOW_MS)
            .expect("the same block is re-signed");
    assert_eq!(again, vote);
    assert_eq!(guard_again, guard);
}

#[test]
fn the_guard_refuses_equivocation_and_stale_heights() {
    let chain = chain();
    let key = &chain.validators[0];
    let (_, guard) = vote_on_proposal(&chain.context, key, &Guard::new(), &chain.block_one, NOW_MS)
        .expect("votes");

    // Another valid block at height 1.
    let mut other = chain.block_one.clone();
    other.header.timestamp_ms += 1;
    chain
        .check(&other)
        .expect("the other block is valid on its own");
    assert_eq!(
        vote_on_proposal(&chain.context, key, &guard, &other, NOW_MS).expect_err("equivocation"),
        ProposalError::Guard(ConsensusError::Equivocation {
            height: 1,
            signed: chain.block_one.header.hash(),
            requested: other.header.hash(),
        })
    );

    let (_, guard) = vote_on_proposal(&chain.context, key, &guard, &chain.block_two, NOW_MS)
        .expect("votes at height 2");
    assert_eq!(
        vote_on_proposal(&chain.context, key, &guard, &chain.block_one, NOW_MS).expect_err("stale"),
        ProposalError::Guard(ConsensusError::Stale { height: 1, last: 2 })
    );
}

#[test]
fn a_key_outside_the_set_cannot_vote() {
    let chain = chain();
    let outsider = key_in_shard(20_000, 0);
    assert_eq!(
        vote_on_proposal(
            &chain.context,
            &outsider,
            &Guard::new(),
            &chain.block_one,
            NOW_MS
        )
        .expect_err("not a member"),
        ProposalError::NotAValidator(ConsensusError::NotAMember(outsider.address()))
    );
}

#[test]
fn votes_from_a_quorum_certify_the_header() {
    let chain = chain();
    let set = &chain.context.config.validators;
    let header = chain.block_two.header;
    let all = votes(&chain.context, &chain.validators, &chain.block_two, 4);
    for vote in &all {
        vote.verify(set, CHAIN_ID).expect("each vote verifies");
    }
    let certificate =
        QuorumCertificate::assemble(set, 2, header.hash(), &all[1..]).expect("quorum");
    assert_eq!(certificate.votes.len(), 3);
    certificate
        .verify(set, CHAIN_ID, &header)
        .expect("certificate verifies for the header");
    let mut other = header;
    other.timestamp_ms += 1;
    assert!(matches!(
        certificate.verify(set, CHAIN_ID, &other),
        Err(ConsensusError::WrongBlock { .. })
    ));
    assert_eq!(
        QuorumCertificate::assemble(set, 2, header.hash(), &all[..2]).expect_err("two of four"),
        ConsensusError::BelowQuorum { got: 2, quorum: 3 }
    );
}
