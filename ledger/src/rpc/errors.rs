//! Transaction refusals in Ethereum's words.
//!
//! Client libraries classify a node's refusal by matching its message: ethers v6 maps
//! `insufficient funds` to `INSUFFICIENT_FUNDS`, `nonce` + `too low` to `NONCE_EXPIRED` and
//! `only replay-protected` to `UNSUPPORTED_OPERATION`; viem has similar patterns for
//! `max fee per gas less than block base fee`, `nonce too high`, `intrinsic gas too low`,
//! `transaction type not supported` and others. So each refusal starts with geth's wording
//! for it, followed by edgeledger's own message, and carries edgeledger's machine code in
//! `data: {"code": ...}`.

use super::envelope::RpcError;
use crate::api::Reason;
use crate::primitives::U256;
use crate::state::Account;
use crate::transaction::Transfer;

/// The JSON-RPC code and geth's wording for one of edgeledger's refusal codes
/// (`TxRejection`, `AdmissionRejection` and `Exclusion` codes); `None`: our message says it.
fn ethereum_wording(code: &str) -> (i64, Option<&'static str>) {
    let refused = |wording| (RpcError::SERVER_ERROR, Some(wording));
    match code {
        "nonce_too_low" => refused("nonce too low"),
        "nonce_too_far_ahead" => refused("nonce too high"),
        "duplicate" | "already_known" => refused("already known"),
        "fee_too_low" => refused("max fee per gas less than block base fee"),
        "insufficient_funds" => refused("insufficient funds for gas * price + value"),
        "wrong_chain_id" => refused("invalid chain id for signer"),
        "unprotected_legacy" => {
            refused("only replay-protected (EIP-155) transactions allowed over RPC")
        }
        "bad_recovery_id" | "high_s" | "invalid_signature" | "signature_mismatch" => {
            refused("invalid sender")
        }
        "too_large" => refused("oversized data"),
        "unsupported_type" => refused("transaction type not supported"),
        "gas_limit_too_low" => refused("intrinsic gas too low"),
        "priority_fee_above_max_fee" => {
            refused("max priority fee per gas higher than max fee per gas")
        }
        "nonce_max" => refused("nonce has max value"),
        // Capacity, not the transaction's fault: "limit exceeded", which clients retry.
        "sender_queue_full" | "mempool_full" => (RpcError::LIMIT_EXCEEDED, Some("txpool is full")),
        _ => (RpcError::SERVER_ERROR, None),
    }
}

/// The JSON-RPC error for a refused transaction: -32000 (-32005 when the mempool or the
/// sender's queue is full, which is worth retrying), geth's words then ours, our code in `data`.
pub fn rejection_error(reason: &Reason) -> RpcError {
    let (code, wording) = ethereum_wording(&reason.code);
    let message = match wording {
        Some(wording) if !reason.message.starts_with(wording) => {
            format!("{wording}: {}", reason.message)
        }
        _ => reason.message.clone(),
    };
    RpcError::new(code, message).with_code(&reason.code)
}

/// -32000 `insufficient funds for gas * price + value: balance B, tx cost C` (decimal wei):
/// the sender cannot pay `gas_limit × max_fee_per_gas + value`, which the chain requires up
/// front, as Ethereum does.
pub fn insufficient_funds(balance: U256, cost: U256) -> RpcError {
    rejection_error(&Reason {
        code: "insufficient_funds".to_owned(),
        message: format!(
            "insufficient funds for gas * price + value: balance {balance}, tx cost {cost}"
        ),
    })
}

/// -32000 `nonce too low: next nonce N, tx nonce M`: the sender already used this nonce.
pub fn nonce_too_low(expected: u64, got: u64) -> RpcError {
    rejection_error(&Reason {
        code: "nonce_too_low".to_owned(),
        message: format!("nonce too low: next nonce {expected}, tx nonce {got}"),
    })
}

/// What `eth_sendRawTransaction` refuses at once, as Ethereum nodes do before queueing, given
/// the sender's committed `account`: a nonce already used (`nonce_too_low`), and a sender who
/// cannot pay `gas_limit × max fee + value` (`insufficient_funds`). The refusal's code (for
/// the rejected counter) and its JSON-RPC error.
pub fn check_payable(
    transfer: &Transfer,
    account: &Account,
) -> Result<(), (&'static str, RpcError)> {
    if transfer.nonce < account.nonce {
        return Err((
            "nonce_too_low",
            nonce_too_low(account.nonce, transfer.nonce),
        ));
    }
    let cost = transfer.max_cost();
    if account.balance < cost {
        return Err((
            "insufficient_funds",
            insufficient_funds(account.balance, cost),
        ));
    }
    Ok(())
}
