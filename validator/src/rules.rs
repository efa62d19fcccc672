//! The validator's decisions that do not need the runtime: parsing its key, the status of each
//! refusal, and when fault injection is allowed. Tested natively.

use ledger::api::ApiError;
use ledger::primitives::parse_hex_array;
use ledger::proposal::ProposalError;
use ledger::signature::SecretKey;
use ledger::wire::FaultMode;

/// What a validator simulating `garbage` answers instead of a vote: `0xc1` is a byte
/// MessagePack never uses, so no decoder can take it for anything.
pub(crate) const GARBAGE_VOTE: &[u8] = b"\xc1 this is not a vote";

/// Parses `VALIDATOR_SECRET_KEY`: `0x` and 64 hex digits of a valid secp256k1 scalar. A bad key
/// is a deployment error (500), and the message never echoes the value.
pub(crate) fn parse_secret_key(text: &str) -> Result<SecretKey, ApiError> {
    let bytes: [u8; 32] = parse_hex_array(text.trim()).map_err(|_| {
        worker_shell::misconfigured("VALIDATOR_SECRET_KEY must be 0x and 64 hex digits")
    })?;
    SecretKey::from_bytes(&bytes).map_err(|_| {
        worker_shell::misconfigured("VALIDATOR_SECRET_KEY is not a valid secp256k1 key")
    })
}

/// The answer to a proposal that fails a check: 409 when the guard refuses (it signed another
/// block at this height), 500 when this validator's key is not in the set, 422 otherwise.
pub(crate) fn refusal(error: ProposalError) -> ApiError {
    match error {
        ProposalError::Guard(_) => ApiError::new(409, "guard_refused", error.to_string()),
        ProposalError::NotAValidator(_) => worker_shell::misconfigured(error.to_string()),
        _ => ApiError::new(422, "invalid_proposal", error.to_string()),
    }
}

/// The answer of a validator simulating `down`.
pub(crate) fn simulated_down() -> ApiError {
    ApiError::new(503, "validator_down", "this validator simulates being down")
}

/// Any validator may be set `healthy`; the faulty modes only where `FAULT_INJECTION` is
/// `enabled` (the local network), never in a production configuration.
pub(crate) fn check_fault_allowed(setting: Option<&str>, mode: FaultMode) -> Result<(), ApiError> {
    if mode == FaultMode::Healthy || setting == Some("enabled") {
        return Ok(());
    }
    Err(ApiError::new(
        403,
        "fault_injection_disabled",
        "this validator does not accept simulated faults (FAULT_INJECTION is not enabled)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_must_be_a_valid_scalar_in_hex() {
        let mut bytes = [0u8; 32];
        bytes[31] = 5;
        let text = ledger::primitives::to_hex(bytes);
        let key = parse_secret_key(&text).expect("valid key");
        assert_eq!(
            key.public_key(),
            SecretKey::from_bytes(&bytes).expect("valid").public_key()
        );
        for bad in [
            "",
            "0x12",
            &"0x".repeat(33),
            &ledger::primitives::to_hex([0u8; 32]),
        ] {
            let error = parse_secret_key(bad).err().expect("a bad key is refused");
            assert_eq!((error.status, error.code), (500, "misconfigured"), "{bad}");
            assert!(!error.message.contains(bad) || bad.is_empty());
        }
    }

    #[test]
    fn faults_need_fault_injection_enabled_except_healthy() {
        for mode in [FaultMode::Down, FaultMode::Garbage] {
            assert_eq!(check_fault_allowed(Some("enabled"), mode), Ok(()));
            for setting in [None, Some("disabled"), Some("ENABLED"), Some("")] {
                let error = check_fault_allowed(setting, mode).expect_err("refused");
                assert_eq!(
                    (error.status, error.code),
                    (403, "fault_injection_disabled")
                );
            }
        }
        assert_eq!(check_fault_allowed(None, FaultMode::Healthy), Ok(()));
    }

    #[test]
    fn garbage_is_not_a_vote() {
        let decoded = ledger::codec::decode::<ledger::consensus::Vote>(GARBAGE_VOTE, 1024);
        assert!(decoded.is_err());
    }

    #[test]
    fn refusals_map_to_their_statuses() {
        let guard =
            ProposalError::Guard(ledger::consensus::ConsensusError::Stale { height: 3, last: 4 });
        assert_eq!(refusal(guard).status, 409);
        let other = ProposalError::TransactionCount(9);
        assert_eq!(
            (
                refusal(other).status,
                refusal(ProposalError::TransactionCount(9)).code
            ),
            (422, "invalid_proposal")
        );
    }
}
