//! anvil, foundry's local Ethereum node (npm `@foundry-rs/anvil`), started on loopback for a
//! side-by-side run: one-second blocks and a block gas limit no benchmark fills, the standard
//! development mnemonic (the same 20 funded accounts as our local network: anvil funds 10
//! unless told) and chain id
//! 31337, so the same signed transfers are valid on both.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::target::Rpc;
use crate::devnet::CHAIN_ID as LOCAL_CHAIN_ID;
use crate::devnet::keys::DEVELOPMENT_ACCOUNT_COUNT;

/// Gas per block: 10^12, room for 47 million transfers, so the limit never caps a block.
const BLOCK_GAS_LIMIT: u64 = 1_000_000_000_000;

/// How long anvil may take to answer after starting.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running anvil, stopped when dropped.
#[derive(Debug)]
pub struct Anvil {
    child: Child,
    url: String,
}

impl Anvil {
    /// Starts anvil from the repository's `node_modules` on a free loopback port and waits
    /// until it answers.
    pub fn start(repository: &Path) -> Result<Self> {
        let binary = foundry_binary(repository, "anvil")?;
        let port = crate::ports::reserve_one()?;
        let child = Command::new(&binary)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--block-time", "1"])
            .args(["--gas-limit", &BLOCK_GAS_LIMIT.to_string()])
            .args(["--chain-id", &LOCAL_CHAIN_ID.to_string()])
            .args(["--accounts", &DEVELOPMENT_ACCOUNT_COUNT.to_string()])
            .args(["--no-request-size-limit", "--quiet"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut anvil = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        anvil.wait_until_ready()?;
        Ok(anvil)
    }

    /// Its JSON-RPC URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Its process id (for its CPU time).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn wait_until_ready(&mut self) -> Result<()> {
        let rpc = Rpc::new(&self.url);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("anvil exited at start ({status})");
            }
            match rpc.chain_id() {
                Ok(LOCAL_CHAIN_ID) => return Ok(()),
                Ok(other) => bail!("anvil runs chain {other}, not {LOCAL_CHAIN_ID}"),
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100))
                }
                Err(error) => return Err(error.context("anvil did not answer in time")),
            }
        }
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The native binary of foundry's `tool` (`anvil`, `cast`) that npm installed for this
/// platform (`node_modules/@foundry-rs/{tool}-{os}-{arch}/bin/{tool}`), else the npm wrapper
/// script (a Node.js launcher: its process is not the tool's). `npm ci` installs both
/// (scripts/setup.sh).
pub fn foundry_binary(repository: &Path, tool: &str) -> Result<PathBuf> {
    let os = match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    };
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let native = repository.join(format!(
        "node_modules/@foundry-rs/{tool}-{os}-{arch}/bin/{tool}"
    ));
    if native.is_file() {
        return Ok(native);
    }
    let wrapper = repository.join(format!("node_modules/.bin/{tool}"));
    if wrapper.exists() {
        Ok(wrapper)
    } else {
        bail!(
            "{} is missing: run scripts/setup.sh (npm ci installs @foundry-rs/{tool})",
            wrapper.display()
        )
    }
}
