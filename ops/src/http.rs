//! The HTTP client settings the tool uses everywhere.

use std::time::Duration;

/// An HTTP client that reports every status as a response (callers decide what a status
/// means), with a whole-call timeout.
pub(crate) fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into()
}
