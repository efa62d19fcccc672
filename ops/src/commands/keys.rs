//! `ops keys`: a fresh random secp256k1 key (to a 0600 file, or printed with a warning), and
//! the address of a key file or a development account.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use ledger::primitives::Address;
use ledger::signature::SecretKey;
use serde::Serialize;

use super::{KeySource, print_json};
use crate::devnet::keys::{
    DEVELOPMENT_ACCOUNT_COUNT, development_keys, parse_secret_key, random_secret_key_hex,
};

/// Largest key file read, in bytes (`0x`, 64 hex digits and a newline, with room for spaces).
const KEY_FILE_BYTES_MAX: u64 = 1024;

/// `ops keys generate`.
#[derive(Debug, Clone, clap::Args)]
pub struct GenerateArgs {
    /// Write the key to this new file (mode 0600; an existing file is never overwritten) and
    /// print only the address.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `ops keys address`.
#[derive(Debug, Clone, clap::Args)]
pub struct AddressArgs {
    /// The key.
    #[command(flatten)]
    pub key: KeySource,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// What `ops keys generate --json` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GeneratedKey {
    /// The key's address.
    pub address: Address,
    /// The secret key, `0x` hex (only without `--out`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_key: Option<String>,
    /// The file the key was written to (only with `--out`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
}

/// What `ops keys address --json` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyAddress {
    /// The key's address.
    pub address: Address,
}

/// Development account `index` of the standard mnemonic.
pub fn development_key(index: usize) -> Result<SecretKey> {
    if index >= DEVELOPMENT_ACCOUNT_COUNT {
        bail!(
            "--dev takes 0 to {}: the local network funds {DEVELOPMENT_ACCOUNT_COUNT} development accounts",
            DEVELOPMENT_ACCOUNT_COUNT - 1
        );
    }
    development_keys(index + 1)?
        .pop()
        .context("deriving the development account")
}

/// Reads a key file: `0x` and 64 hex digits, surrounding whitespace allowed. Warns on stderr
/// if others may read it.
pub fn read_key_file(path: &Path) -> Result<SecretKey> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let metadata = file.metadata()?;
    warn_if_readable_by_others(path, &metadata);
    let mut text = String::new();
    file.take(KEY_FILE_BYTES_MAX + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("reading {}", path.display()))?;
    if text.len() as u64 > KEY_FILE_BYTES_MAX {
        bail!(
            "{} is not a key file (more than {KEY_FILE_BYTES_MAX} bytes)",
            path.display()
        );
    }
    parse_secret_key(text.trim()).with_context(|| format!("the key in {}", path.display()))
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path, metadata: &std::fs::Metadata) {
    use std::os::unix::fs::PermissionsExt;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        eprintln!(
            "warning: {} has mode {mode:03o}: others may read this key (chmod 600 it)",
            path.display()
        );
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path, _metadata: &std::fs::Metadata) {}

/// Writes `secret_hex` to a new file only its owner can read; refuses an existing file.
pub fn write_key_file(path: &Path, secret_hex: &str) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|error| {
        if error.kind() == std::io::ErrorKind::AlreadyExists {
            anyhow::anyhow!("{} already exists: not overwriting a key", path.display())
        } else {
            anyhow::anyhow!("creating {}: {error}", path.display())
        }
    })?;
    file.write_all(format!("{secret_hex}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

/// `ops keys generate`: a fresh key from the OS random source.
pub fn generate(args: &GenerateArgs) -> Result<()> {
    let secret_hex = random_secret_key_hex()?;
    let address = parse_secret_key(&secret_hex)?.public_key().address();
    let generated = match &args.out {
        Some(path) => {
            write_key_file(path, &secret_hex)?;
            eprintln!("wrote the key to {} (mode 0600)", path.display());
            GeneratedKey {
                address,
                secret_key: None,
                key_file: Some(path.clone()),
            }
        }
        None => {
            eprintln!(
                "warning: the secret key is printed below; anyone who sees it controls the \
                 account (use --out FILE to keep it in a file only you can read)"
            );
            GeneratedKey {
                address,
                secret_key: Some(secret_hex),
                key_file: None,
            }
        }
    };
    if args.json {
        return print_json(&generated);
    }
    match &generated.secret_key {
        Some(secret) => print!(
            "{}",
            super::aligned(&[
                ("address", address.to_string()),
                ("secret key", secret.clone()),
            ])
        ),
        None => println!("{address}"),
    }
    Ok(())
}

/// `ops keys address`: the address of a key.
pub fn address(args: &AddressArgs) -> Result<()> {
    let address = args.key.load()?.public_key().address();
    if args.json {
        print_json(&KeyAddress { address })
    } else {
        println!("{address}");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn development_accounts_are_bounded() {
        assert_eq!(
            development_key(1)
                .expect("derives")
                .public_key()
                .address()
                .to_string(),
            "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"
        );
        assert!(development_key(DEVELOPMENT_ACCOUNT_COUNT).is_err());
    }

    #[test]
    fn a_written_key_file_is_private_reads_back_and_is_never_overwritten() {
        let dir = tempfile::tempdir().expect("a folder");
        let path = dir.path().join("key");
        let secret = random_secret_key_hex().expect("random");
        write_key_file(&path, &secret).expect("written");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path)
                .expect("exists")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let key = read_key_file(&path).expect("reads back");
        assert_eq!(
            key.public_key().address(),
            parse_secret_key(&secret)
                .expect("parses")
                .public_key()
                .address()
        );
        let error = write_key_file(&path, &secret).expect_err("exists");
        assert!(error.to_string().contains("already exists"), "{error}");
    }

    #[test]
    fn a_file_that_is_not_a_key_is_refused() {
        let dir = tempfile::tempdir().expect("a folder");
        let path = dir.path().join("junk");
        std::fs::write(&path, "0x1234\n").expect("written");
        assert!(read_key_file(&path).is_err());
        std::fs::write(&path, "0".repeat(2000)).expect("written");
        let error = read_key_file(&path).err().map(|error| error.to_string());
        assert!(
            error
                .as_deref()
                .is_some_and(|error| error.contains("not a key file")),
            "{error:?}"
        );
        assert!(read_key_file(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn the_json_names_the_file_or_the_secret_never_both() {
        let address: Address = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"
            .parse()
            .expect("an address");
        let to_file = GeneratedKey {
            address,
            secret_key: None,
            key_file: Some(PathBuf::from("/tmp/key")),
        };
        assert_eq!(
            serde_json::to_value(&to_file).expect("JSON"),
            serde_json::json!({
                "address": "0x70997970c51812dc3a010c7d01b50e0d17dc79c8",
                "key_file": "/tmp/key"
            })
        );
    }
}
