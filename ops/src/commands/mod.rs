//! What an operator does from a terminal, one module per command: the chain's status and a
//! live view of it, keys, balances (with verified proofs) and transfers. Each command reads
//! its clap arguments, talks to the public API through [`crate::client`], and prints a short
//! aligned summary for people or JSON for scripts (`--json`). The `ops` binary only
//! dispatches to them.

pub mod balance;
pub mod keys;
pub mod send;
pub mod status;
pub mod watch;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use ledger::genesis::Genesis;
use ledger::signature::SecretKey;

use crate::devnet;

/// Largest genesis file read, in bytes.
const GENESIS_BYTES_MAX: u64 = 16 * 1024 * 1024;

/// Which key signs: a key file or a development account.
#[derive(Debug, Clone, clap::Args)]
#[group(required = true, multiple = false)]
pub struct KeySource {
    /// A file holding a `0x` hex secp256k1 secret key (as `ops keys generate --out` writes).
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// Development account N (0 to 19) of the standard mnemonic `test test … junk`.
    #[arg(long, value_name = "N")]
    pub dev: Option<usize>,
}

impl KeySource {
    /// The secret key.
    pub fn load(&self) -> Result<SecretKey> {
        match (&self.key_file, self.dev) {
            (Some(path), _) => keys::read_key_file(path),
            (None, Some(index)) => keys::development_key(index),
            (None, None) => anyhow::bail!("give --key-file FILE or --dev N"),
        }
    }
}

/// Where the chain's genesis comes from: a genesis file or a local network's folder.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct GenesisSource {
    /// A local network's folder (its `network.json` holds the genesis); default: the
    /// repository's `.local/net`.
    #[arg(long, value_name = "DIR", conflicts_with = "genesis")]
    pub dir: Option<PathBuf>,
    /// The chain's genesis JSON.
    #[arg(long, value_name = "FILE")]
    pub genesis: Option<PathBuf>,
}

impl GenesisSource {
    /// The genesis, from the file, the folder, or the default folder.
    pub fn load(&self) -> Result<Genesis> {
        let genesis = match (&self.genesis, &self.dir) {
            (Some(path), _) => read_genesis_file(path)?,
            (None, Some(dir)) => devnet::read_network_files(dir)?.genesis,
            (None, None) => {
                devnet::read_network_files(&devnet::Options::default().dir)
                    .context("give --genesis FILE, or point --dir at a local network's folder")?
                    .genesis
            }
        };
        genesis
            .validate()
            .map_err(|error| anyhow::anyhow!("the genesis is invalid: {error}"))?;
        Ok(genesis)
    }

    /// The genesis if one can be had: the named file or folder (an error if it cannot be
    /// read), else the default folder's if it holds a valid one, else `None`.
    pub fn load_if_available(&self) -> Result<Option<Genesis>> {
        if self.genesis.is_some() || self.dir.is_some() {
            self.load().map(Some)
        } else {
            Ok(self.load().ok())
        }
    }
}

/// Reads and parses a genesis JSON file.
fn read_genesis_file(path: &Path) -> Result<Genesis> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    anyhow::ensure!(
        size <= GENESIS_BYTES_MAX,
        "{} is {size} bytes, more than a genesis has ({GENESIS_BYTES_MAX})",
        path.display()
    );
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))
}

/// Milliseconds since the Unix epoch now (0 if the clock is before it).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

/// A duration for people: `850 ms`, `3.2 s`, `4 min 05 s`, `2 h 03 min`, `3 d 04 h`.
pub fn format_age(milliseconds: u64) -> String {
    let seconds = milliseconds / 1000;
    match seconds {
        0 => format!("{milliseconds} ms"),
        1..60 => format!("{}.{} s", seconds, (milliseconds % 1000) / 100),
        60..3600 => format!("{} min {:02} s", seconds / 60, seconds % 60),
        3600..86_400 => format!("{} h {:02} min", seconds / 3600, (seconds % 3600) / 60),
        _ => format!("{} d {:02} h", seconds / 86_400, (seconds % 86_400) / 3600),
    }
}

/// `rows` as `label  value` lines with the values aligned.
pub fn aligned(rows: &[(&str, String)]) -> String {
    let width = rows.iter().map(|(label, _)| label.len()).max().unwrap_or(0);
    rows.iter()
        .map(|(label, value)| format!("{label:<width$}  {value}\n"))
        .collect()
}

/// Prints `value` as one line of JSON.
pub fn print_json(value: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string(value)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_naturally() {
        assert_eq!(format_age(0), "0 ms");
        assert_eq!(format_age(850), "850 ms");
        assert_eq!(format_age(3_250), "3.2 s");
        assert_eq!(format_age(245_000), "4 min 05 s");
        assert_eq!(format_age(7_380_000), "2 h 03 min");
        assert_eq!(format_age(273_600_000), "3 d 04 h");
    }

    #[test]
    fn rows_align_on_the_longest_label() {
        let text = aligned(&[("chain id", "1".to_owned()), ("mempool", "2".to_owned())]);
        assert_eq!(text, "chain id  1\nmempool   2\n");
    }

    #[test]
    fn a_named_genesis_that_cannot_be_read_is_an_error() {
        let source = GenesisSource {
            dir: None,
            genesis: Some(PathBuf::from("/nonexistent/genesis.json")),
        };
        assert!(source.load_if_available().is_err());
        let folder = GenesisSource {
            dir: Some(PathBuf::from("/nonexistent")),
            genesis: None,
        };
        assert!(folder.load().is_err());
    }

    #[test]
    fn a_key_source_needs_a_file_or_an_account() {
        let none = KeySource {
            key_file: None,
            dev: None,
        };
        assert!(none.load().is_err());
        let dev = KeySource {
            key_file: None,
            dev: Some(0),
        };
        assert_eq!(
            dev.load()
                .expect("derives")
                .public_key()
                .address()
                .to_string(),
            "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
        );
    }
}
