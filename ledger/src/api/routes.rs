//! Routing for the public API: which request is which, and the 404, 405 and 400 answers for
//! the ones that are not. Path identifiers (addresses, hashes, block heights) are parsed here
//! so a malformed one is a precise 400, never a lookup of garbage.

use crate::limits::{BLOCK_WAIT_MS_MAX, VALIDATORS_MAX};
use crate::primitives::{Address, Hash};

use super::ApiError;

/// A block named in a path: `latest`, a height, or a hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockSelector {
    /// The head.
    Latest,
    /// The block at this height.
    Height(u64),
    /// The block with this hash.
    Hash(Hash),
}

/// A recognised public request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `POST /v1/txs`: a MessagePack batch of raw transactions.
    SubmitBatch,
    /// `POST /v1/tx`: one raw transaction as JSON.
    SubmitOne,
    /// `GET /v1/txs/{hash}`: a transaction's status.
    Transaction(Hash),
    /// `GET /v1/accounts/{address}[?proof=true]`: an account, optionally with its proof.
    Account {
        /// The account.
        address: Address,
        /// Whether to include a Merkle proof against the latest certified header.
        proof: bool,
    },
    /// `GET /v1/blocks/{height|hash|latest}`.
    Block(BlockSelector),
    /// `GET /v1/blocks/{height}?wait_ms=N`: the block at `height`, waiting up to `wait_ms`
    /// for it to be committed (a long poll: a client learns of the next block as it commits,
    /// with one request instead of polling the head).
    AwaitBlock {
        /// The block's height.
        height: u64,
        /// How long to wait for it, at most [`BLOCK_WAIT_MS_MAX`].
        wait_ms: u64,
    },
    /// `GET /v1/status`.
    Status,
    /// `/v1/admin/...`: operator actions behind the admin token.
    Admin(AdminRoute),
    /// `POST /` or `POST /rpc`: Ethereum JSON-RPC 2.0 (see [`crate::rpc`]).
    JsonRpc,
    /// `GET /metrics`: Prometheus text exposition ([`crate::metrics`]). No token: scrapers
    /// read it, and it holds nothing secret.
    Metrics,
    /// `GET /dashboard`: the operator's web page, static HTML that reads the public API from
    /// the browser (no token; admin actions send the one the operator types).
    DashboardPage,
    /// `GET /dashboard/app.js`: the dashboard's script.
    DashboardScript,
    /// `GET /dashboard/app.css`: the dashboard's style sheet.
    DashboardStyle,
}

/// An operator action (every one needs `Authorization: Bearer <admin token>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminRoute {
    /// `POST /v1/admin/pause`: stop proposing blocks (an in-flight proposal completes).
    Pause,
    /// `POST /v1/admin/resume`: propose blocks again.
    Resume,
    /// `POST /v1/admin/validators/{index}/fault` with `{"mode": "healthy|down|garbage"}`: make
    /// a validator simulate a fault (only where its configuration enables fault injection).
    ValidatorFault(usize),
    /// `POST /v1/admin/archive/run`: run the archiver's scheduled work now (cold storage, and
    /// a backup if one is due). The local network calls it on a timer.
    ArchiveRun,
    /// `POST /v1/admin/backups`: make a backup now, due or not.
    Backup,
    /// `GET /v1/admin/backups`: the backup index.
    Backups,
    /// `POST /v1/admin/restore` with `{"cid": "…"}`: restore the latest backup.
    Restore,
}

/// Works out which request this is. `path` excludes the query string; `query` is what
/// follows `?`, if anything.
pub fn route(method: &str, path: &str, query: Option<&str>) -> Result<Route, ApiError> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let (allowed, route) = match segments.as_slice() {
        [""] | ["", "rpc"] => ("POST", Ok(Route::JsonRpc)),
        ["", "v1", "txs"] => ("POST", Ok(Route::SubmitBatch)),
        ["", "v1", "tx"] => ("POST", Ok(Route::SubmitOne)),
        ["", "v1", "txs", hash] => ("GET", parse_hash(hash).map(Route::Transaction)),
        ["", "v1", "accounts", address] => ("GET", account_route(address, query)),
        ["", "v1", "blocks", block] => ("GET", block_route(block, query)),
        ["", "v1", "status"] => ("GET", Ok(Route::Status)),
        ["", "metrics"] => ("GET", Ok(Route::Metrics)),
        ["", "dashboard"] => ("GET", Ok(Route::DashboardPage)),
        ["", "dashboard", "app.js"] => ("GET", Ok(Route::DashboardScript)),
        ["", "dashboard", "app.css"] => ("GET", Ok(Route::DashboardStyle)),
        ["", "v1", "admin", "pause"] => ("POST", Ok(Route::Admin(AdminRoute::Pause))),
        ["", "v1", "admin", "resume"] => ("POST", Ok(Route::Admin(AdminRoute::Resume))),
        ["", "v1", "admin", "archive", "run"] => ("POST", Ok(Route::Admin(AdminRoute::ArchiveRun))),
        ["", "v1", "admin", "backups"] if method.eq_ignore_ascii_case("GET") => {
            ("GET", Ok(Route::Admin(AdminRoute::Backups)))
        }
        ["", "v1", "admin", "backups"] => ("POST", Ok(Route::Admin(AdminRoute::Backup))),
        ["", "v1", "admin", "restore"] => ("POST", Ok(Route::Admin(AdminRoute::Restore))),
        ["", "v1", "admin", "validators", index, "fault"] => (
            "POST",
            parse_validator_index(index)
                .map(|index| Route::Admin(AdminRoute::ValidatorFault(index))),
        ),
        _ => return Err(ApiError::not_found(format!("no such endpoint: {path}"))),
    };
    // The method is checked before the identifier: a wrong method on a known path is 405
    // whatever the identifier looks like.
    if !method.eq_ignore_ascii_case(allowed) {
        return Err(ApiError::method_not_allowed(method, allowed));
    }
    route
}

fn account_route(address: &str, query: Option<&str>) -> Result<Route, ApiError> {
    Ok(Route::Account {
        address: parse_address(address)?,
        proof: parse_proof_flag(query)?,
    })
}

/// A block by selector; with `wait_ms=N` (a height only) one that may be waited for.
fn block_route(block: &str, query: Option<&str>) -> Result<Route, ApiError> {
    let selector = parse_block_selector(block)?;
    let Some(wait_ms) = parse_wait_ms(query)? else {
        return Ok(Route::Block(selector));
    };
    match selector {
        BlockSelector::Height(height) => Ok(Route::AwaitBlock { height, wait_ms }),
        BlockSelector::Latest | BlockSelector::Hash(_) => Err(ApiError::bad_request(
            "invalid_query",
            "wait_ms waits for a block by height; a hash or latest is answered at once",
        )),
    }
}

/// `wait_ms=N` with `N` a decimal of at most [`BLOCK_WAIT_MS_MAX`], or nothing; any other
/// parameter is refused so a typo is not ignored.
fn parse_wait_ms(query: Option<&str>) -> Result<Option<u64>, ApiError> {
    let mut wait_ms = None;
    for pair in query
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty())
    {
        let value = pair
            .strip_prefix("wait_ms=")
            .filter(|value| !value.is_empty() && value.bytes().all(|byte| byte.is_ascii_digit()))
            .and_then(|value| value.parse::<u64>().ok())
            .filter(|value| *value <= BLOCK_WAIT_MS_MAX);
        let Some(value) = value else {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!(
                    "unknown query parameter {pair:?}; only wait_ms=0..={BLOCK_WAIT_MS_MAX} is accepted"
                ),
            ));
        };
        wait_ms = Some(value);
    }
    Ok(wait_ms)
}

/// `proof=true` or `proof=false`; other parameters are refused so a typo is not ignored.
fn parse_proof_flag(query: Option<&str>) -> Result<bool, ApiError> {
    let mut proof = false;
    for pair in query
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty())
    {
        proof = match pair {
            "proof=true" | "proof=1" => true,
            "proof=false" | "proof=0" => false,
            _ => {
                return Err(ApiError::bad_request(
                    "invalid_query",
                    format!("unknown query parameter {pair:?}; only proof=true|false is accepted"),
                ));
            }
        };
    }
    Ok(proof)
}

/// A validator's position in the validator set: a decimal below [`VALIDATORS_MAX`].
fn parse_validator_index(text: &str) -> Result<usize, ApiError> {
    let canonical_decimal = !text.is_empty()
        && text.bytes().all(|byte| byte.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    canonical_decimal
        .then(|| text.parse::<usize>().ok())
        .flatten()
        .filter(|index| *index < VALIDATORS_MAX)
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_validator",
                format!("{text:?} is not a validator index below {VALIDATORS_MAX}"),
            )
        })
}

/// A `0x`-prefixed 20-byte address: 400 `invalid_address` otherwise.
pub fn parse_address(text: &str) -> Result<Address, ApiError> {
    text.parse()
        .map_err(|error| ApiError::bad_request("invalid_address", format!("{text:?}: {error}")))
}

/// A `0x`-prefixed 32-byte hash: 400 `invalid_hash` otherwise.
pub fn parse_hash(text: &str) -> Result<Hash, ApiError> {
    text.parse()
        .map_err(|error| ApiError::bad_request("invalid_hash", format!("{text:?}: {error}")))
}

/// `latest`, a decimal height (no sign, no leading zeros), or a block hash.
pub fn parse_block_selector(text: &str) -> Result<BlockSelector, ApiError> {
    if text == "latest" {
        return Ok(BlockSelector::Latest);
    }
    if text.starts_with("0x") || text.starts_with("0X") {
        return parse_hash(text).map(BlockSelector::Hash);
    }
    let canonical_decimal = !text.is_empty()
        && text.bytes().all(|byte| byte.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    let height = canonical_decimal
        .then(|| text.parse::<u64>().ok())
        .flatten();
    height.map(BlockSelector::Height).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_block_id",
            format!("{text:?} is not a height, a 0x block hash or \"latest\""),
        )
    })
}
