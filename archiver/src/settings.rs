//! The archiver's configuration: plain variables with defaults (in `wrangler.toml`) and two
//! secrets, `BACKUP_ENCRYPTION_KEY` and, for Pinata, `PINATA_JWT`. Each is read and checked
//! when a run needs it, so a missing secret is a clear `misconfigured` error, not a crash.

use ledger::api::ApiError;
use ledger::archive::{self, ArchiveSettings, BackupSchedule, PinningBackend};
use ledger::backup::BackupKey;
use worker::Env;
use worker_shell::{misconfigured, optional_setting, text_setting};

use crate::pinning::Pinner;

/// Blocks kept hot in the `Sequencer` when `ARCHIVE_HOT_BLOCKS` is not set.
const HOT_BLOCKS_DEFAULT: u64 = 1_024;
/// Blocks moved per run when `ARCHIVE_BLOCKS_PER_RUN` is not set.
const BLOCKS_PER_RUN_DEFAULT: u64 = 128;
/// A backup every this many blocks when `BACKUP_EVERY_BLOCKS` is not set.
const BACKUP_EVERY_BLOCKS_DEFAULT: u64 = 10_000;
/// Or this often (ms) when `BACKUP_EVERY_MS` is not set: hourly.
const BACKUP_EVERY_MS_DEFAULT: u64 = 60 * 60 * 1_000;
/// Backups kept pinned when `BACKUP_RETENTION` is not set.
const BACKUP_RETENTION_DEFAULT: u64 = 24;

/// A numeric variable, or its default when unset; a value that is not a number is an error.
fn number(env: &Env, name: &str, default: u64) -> Result<u64, ApiError> {
    match optional_setting(env, name) {
        None => Ok(default),
        Some(text) => text
            .trim()
            .parse()
            .map_err(|_| misconfigured(format!("{name} = {text:?} is not a whole number"))),
    }
}

/// How much stays hot and how much one run moves.
pub(crate) fn archive_settings(env: &Env) -> Result<ArchiveSettings, ApiError> {
    ArchiveSettings::new(
        number(env, "ARCHIVE_HOT_BLOCKS", HOT_BLOCKS_DEFAULT)?,
        number(env, "ARCHIVE_BLOCKS_PER_RUN", BLOCKS_PER_RUN_DEFAULT)?,
    )
    .map_err(ApiError::from)
}

/// When backups are made and how many are kept.
pub(crate) fn backup_schedule(env: &Env) -> Result<BackupSchedule, ApiError> {
    let retention = number(env, "BACKUP_RETENTION", BACKUP_RETENTION_DEFAULT)?;
    BackupSchedule::new(
        number(env, "BACKUP_EVERY_BLOCKS", BACKUP_EVERY_BLOCKS_DEFAULT)?,
        number(env, "BACKUP_EVERY_MS", BACKUP_EVERY_MS_DEFAULT)?,
        usize::try_from(retention).unwrap_or(usize::MAX),
    )
    .map_err(ApiError::from)
}

/// How long a run's lease lasts (`ARCHIVER_LEASE_MS`): a run killed midway holds it this long.
pub(crate) fn lease_ms(env: &Env) -> Result<u64, ApiError> {
    archive::check_lease_ms(number(
        env,
        "ARCHIVER_LEASE_MS",
        archive::ARCHIVER_LEASE_MS,
    )?)
    .map_err(ApiError::from)
}

/// The backup key, from the `BACKUP_ENCRYPTION_KEY` secret.
pub(crate) fn backup_key(env: &Env) -> Result<BackupKey, ApiError> {
    let text = text_setting(env, "BACKUP_ENCRYPTION_KEY")?;
    BackupKey::from_hex(&text)
        .map_err(|error| misconfigured(format!("BACKUP_ENCRYPTION_KEY: {error}")))
}

/// The pinning backend `BACKUP_PINNING` names, with its endpoints and credentials.
pub(crate) fn pinner(env: &Env) -> Result<Pinner, ApiError> {
    let name = optional_setting(env, "BACKUP_PINNING").unwrap_or_else(|| "pinata".to_owned());
    let backend = PinningBackend::parse(&name)
        .ok_or_else(|| misconfigured(format!("BACKUP_PINNING = {name:?}: use pinata or kubo")))?;
    let url = |name: &str, default: &str| {
        optional_setting(env, name)
            .unwrap_or_else(|| default.to_owned())
            .trim_end_matches('/')
            .to_owned()
    };
    Ok(match backend {
        PinningBackend::Kubo => Pinner::Kubo {
            api_url: url("KUBO_API_URL", "http://127.0.0.1:5001"),
        },
        PinningBackend::Pinata => Pinner::Pinata {
            api_url: url("PINATA_API_URL", "https://api.pinata.cloud"),
            uploads_url: url("PINATA_UPLOADS_URL", "https://uploads.pinata.cloud"),
            gateway_url: url("PINATA_GATEWAY_URL", "https://gateway.pinata.cloud"),
            network: url("PINATA_NETWORK", "public"),
            jwt: text_setting(env, "PINATA_JWT")?,
        },
    })
}
