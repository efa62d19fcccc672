//! A real IPFS node and a Pinata stand-in on loopback, for the local network and the tests.
//!
//! Kubo cannot be installed offline, so the node is the JavaScript implementation from npm
//! (`ipfs`, in the repository's `node_modules`; `scripts/setup.sh` installs it), which serves
//! the same RPC API (`/api/v0/...`, every call a POST) and computes the same CIDs as Kubo.
//! [`IpfsNode`] runs it offline on a repository folder that is kept across starts; it is the
//! local network's "off-site" store.
//!
//! [`PinataStandin`] runs `scripts/pinata-standin.mjs`: Pinata's upload, unpin, listing and
//! gateway endpoints, storing on an IPFS node, so a client written for Pinata runs unchanged
//! against it.
//!
//! Both run in their own process group (so nothing of theirs outlives a stop) and are stopped
//! when dropped.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};

use crate::http::agent;

/// How long a start may take before it is reported as failed (a loaded two-core machine).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a stopping process may take to exit after SIGTERM before it is killed.
/// js-ipfs closes its repository (datastore, lock) in about 1.5 s.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// What the IPFS daemon (js-ipfs and Kubo alike) prints once it serves its API.
const DAEMON_READY: &str = "Daemon is ready";

/// The JavaScript IPFS command line, relative to the repository root.
const IPFS_CLI: &str = "node_modules/ipfs/src/cli.js";

/// The Pinata stand-in, relative to the repository root.
const STANDIN_SCRIPT: &str = "scripts/pinata-standin.mjs";

/// An IPFS node serving its RPC API on `127.0.0.1`, offline (it neither dials nor is dialled);
/// dropping it stops it.
#[derive(Debug)]
pub struct IpfsNode {
    process: Daemon,
    api_url: String,
    repo_dir: PathBuf,
}

impl IpfsNode {
    /// Starts a node on the repository `repo_dir` with its RPC API on `127.0.0.1:api_port`, and
    /// waits until the API answers.
    ///
    /// On first use the repository is initialised with the `test` profile (no bootstrap peers,
    /// everything on 127.0.0.1). Every start then sets the API address, disables the HTTP
    /// gateway and keeps the other listeners on loopback. The daemon's output goes to
    /// `<repo_dir>.log` (next to the repository, not in it).
    pub fn start(repo_dir: &Path, api_port: u16) -> Result<IpfsNode> {
        let cli = node_script(IPFS_CLI, "the JavaScript IPFS node (npm package ipfs)")?;
        let parent = repo_dir
            .parent()
            .context("the IPFS repository needs a parent folder (for its log)")?;
        fs::create_dir_all(parent)?;
        if !repo_dir.join("config").exists() {
            init_repo(&cli, repo_dir)?;
        }
        clear_stale_lock(repo_dir)?;
        configure_repo(repo_dir, api_port)?;

        let log_path = repo_dir.with_extension("log");
        let mut command = Command::new("node");
        command
            .arg(&cli)
            .args(["daemon", "--offline", "--enable-preload=false"])
            .env("IPFS_PATH", repo_dir)
            // The CLI otherwise checks npm for a newer version, in a detached process that
            // would outlive the node's process group.
            .env("NO_UPDATE_NOTIFIER", "1");
        let process = Daemon::spawn(command, "the IPFS node", &log_path)?;
        let mut node = IpfsNode {
            process,
            api_url: format!("http://127.0.0.1:{api_port}"),
            repo_dir: repo_dir.to_path_buf(),
        };
        node.wait_ready()?;
        Ok(node)
    }

    /// The RPC API's base URL, `http://127.0.0.1:<port>` (calls go to `<url>/api/v0/...`).
    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    /// The repository folder.
    pub fn repo_dir(&self) -> &Path {
        &self.repo_dir
    }

    /// The daemon's log file.
    pub fn log_path(&self) -> &Path {
        &self.process.log_path
    }

    /// The last lines of the daemon's log.
    pub fn log_tail(&self) -> String {
        self.process.log_tail()
    }

    /// The id of the daemon's process group (its process id), while it runs.
    pub fn process_group(&self) -> Option<u32> {
        self.process.group()
    }

    /// Stops the daemon: SIGTERM to its process group (it closes its repository cleanly), then
    /// SIGKILL if it has not exited within a few seconds.
    pub fn stop(mut self) -> Result<()> {
        self.process.stop()
    }

    /// Waits until the daemon says it is ready and `POST /api/v0/id` answers.
    fn wait_ready(&mut self) -> Result<()> {
        let agent = agent(Duration::from_secs(5));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            self.process.check_running()?;
            // The API can answer before a later step of the start fails (js-ipfs: a bad gRPC
            // address), so the log's ready line is awaited too.
            if self.process.log().contains(DAEMON_READY) {
                let answer = agent
                    .post(format!("{}/api/v0/id", self.api_url))
                    .send_empty();
                if answer.is_ok_and(|response| response.status() == 200) {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "the IPFS node did not answer on {} within {START_TIMEOUT:?}; the end of {}:\n{}",
                    self.api_url,
                    self.process.log_path.display(),
                    self.process.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// `ipfs init --profile test` on a new repository.
fn init_repo(cli: &Path, repo_dir: &Path) -> Result<()> {
    let output = Command::new("node")
        .arg(cli)
        .args(["init", "--profile", "test"])
        .env("IPFS_PATH", repo_dir)
        .env("NO_UPDATE_NOTIFIER", "1")
        .stdin(Stdio::null())
        .output()
        .context("running node (is Node.js installed?)")?;
    ensure!(
        output.status.success(),
        "initialising the IPFS repository {} failed:\n{}{}",
        repo_dir.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

/// Removes what a daemon that did not shut down cleanly (killed, or its machine crashed) left:
/// its `api` file (the command line would send commands to that dead address) and its
/// `repo.lock` (a new daemon would refuse the repository for 20 s, until the lock is stale).
/// A daemon that still answers at the recorded address is an error instead: two daemons must
/// not share a repository.
fn clear_stale_lock(repo_dir: &Path) -> Result<()> {
    let api_file = repo_dir.join("api");
    if let Ok(address) = fs::read_to_string(&api_file) {
        if let Some(url) = multiaddr_url(address.trim()) {
            let answer = agent(Duration::from_secs(2))
                .post(format!("{url}/api/v0/id"))
                .send_empty();
            if answer.is_ok_and(|response| response.status() == 200) {
                bail!(
                    "an IPFS daemon already serves {} at {url} (left running by an earlier \
                     start?): stop it first",
                    repo_dir.display()
                );
            }
        }
        fs::remove_file(&api_file)
            .with_context(|| format!("removing the stale {}", api_file.display()))?;
    }
    let lock = repo_dir.join("repo.lock");
    // js-ipfs's lock is a folder (proper-lockfile), Kubo's a file.
    if lock.is_dir() {
        fs::remove_dir_all(&lock)?;
    } else if lock.exists() {
        fs::remove_file(&lock)?;
    }
    Ok(())
}

/// `/ip4/127.0.0.1/tcp/5001/http` → `http://127.0.0.1:5001`; `None` for other addresses.
fn multiaddr_url(address: &str) -> Option<String> {
    let parts: Vec<&str> = address.split('/').collect();
    match parts.as_slice() {
        ["", "ip4", host, "tcp", port, ..] => {
            Some(format!("http://{host}:{}", port.parse::<u16>().ok()?))
        }
        _ => None,
    }
}

/// Sets the listening addresses in the repository's `config` (JSON, holding the node's
/// private key: rewritten atomically, readable only by its owner).
fn configure_repo(repo_dir: &Path, api_port: u16) -> Result<()> {
    let path = repo_dir.join("config");
    let mut config: Value = serde_json::from_slice(&fs::read(&path)?)
        .with_context(|| format!("reading {}", path.display()))?;
    let addresses = config
        .get_mut("Addresses")
        .and_then(Value::as_object_mut)
        .with_context(|| format!("{} has no Addresses", path.display()))?;
    addresses.insert(
        "API".into(),
        json!(format!("/ip4/127.0.0.1/tcp/{api_port}")),
    );
    // No HTTP gateway: content is read through the API (or the Pinata stand-in's gateway).
    addresses.insert("Gateway".into(), json!([]));
    // js-ipfs's gRPC endpoint defaults to the fixed port 5003, which would collide between two
    // nodes; an empty list crashes it, so it gets any free loopback port.
    addresses.insert("RPC".into(), json!("/ip4/127.0.0.1/tcp/0"));
    addresses.insert("Swarm".into(), json!(["/ip4/127.0.0.1/tcp/0"]));
    config["Bootstrap"] = json!([]);
    write_atomically(&path, &serde_json::to_vec_pretty(&config)?)
}

/// Writes a file through a temporary one and a rename, mode 0600.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let temporary = path.with_extension("tmp");
    let mut file = fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .with_context(|| format!("writing {}", temporary.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&temporary, path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

/// The Pinata stand-in (`scripts/pinata-standin.mjs`) on `127.0.0.1`, storing on an IPFS node;
/// dropping it stops it.
#[derive(Debug)]
pub struct PinataStandin {
    process: Daemon,
    url: String,
}

impl PinataStandin {
    /// Starts the stand-in on `127.0.0.1:port` in front of the IPFS node whose RPC API is at
    /// `ipfs_api_url`, and waits until it listens.
    ///
    /// Clients authenticate with `Authorization: Bearer <the content of jwt_file>` (a file, so
    /// the token never shows in a process list). The output goes to `log_path`. File records
    /// (ids, names, keyvalues) are kept in `state_path` when given, so they survive restarts
    /// as the node's pins do; otherwise only in memory.
    pub fn start(
        ipfs_api_url: &str,
        jwt_file: &Path,
        port: u16,
        log_path: &Path,
        state_path: Option<&Path>,
    ) -> Result<PinataStandin> {
        let script = repository_file(STANDIN_SCRIPT)?;
        ensure!(
            jwt_file.exists(),
            "the Pinata JWT file {} is missing",
            jwt_file.display()
        );
        let mut command = Command::new("node");
        command
            .arg(&script)
            .arg("--port")
            .arg(port.to_string())
            .arg("--ipfs-api")
            .arg(ipfs_api_url)
            .arg("--jwt-file")
            .arg(jwt_file);
        if let Some(state_path) = state_path {
            command.arg("--state").arg(state_path);
        }
        let process = Daemon::spawn(command, "the Pinata stand-in", log_path)?;
        let mut standin = PinataStandin {
            process,
            url: format!("http://127.0.0.1:{port}"),
        };
        standin.wait_ready()?;
        Ok(standin)
    }

    /// The base URL of its API, uploads and gateway alike: `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The stand-in's log file.
    pub fn log_path(&self) -> &Path {
        &self.process.log_path
    }

    /// The last lines of the stand-in's log.
    pub fn log_tail(&self) -> String {
        self.process.log_tail()
    }

    /// The id of the stand-in's process group (its process id), while it runs.
    pub fn process_group(&self) -> Option<u32> {
        self.process.group()
    }

    /// Stops the stand-in (SIGTERM to its process group, SIGKILL if it lingers).
    pub fn stop(mut self) -> Result<()> {
        self.process.stop()
    }

    /// Waits for the line the stand-in prints once it listens.
    fn wait_ready(&mut self) -> Result<()> {
        let ready = format!("pinata stand-in listening on {}", self.url);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            self.process.check_running()?;
            if self.process.log().contains(&ready) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "the Pinata stand-in did not start within {START_TIMEOUT:?}; the end of {}:\n{}",
                    self.process.log_path.display(),
                    self.process.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A file of the repository that must exist.
fn repository_file(relative: &str) -> Result<PathBuf> {
    let path = crate::devnet::repository_root().join(relative);
    ensure!(path.exists(), "{} is missing", path.display());
    Ok(path)
}

/// A script from the repository's `node_modules`, with the fix when it is missing.
fn node_script(relative: &str, what: &str) -> Result<PathBuf> {
    let path = crate::devnet::repository_root().join(relative);
    ensure!(
        path.exists(),
        "{what} is missing ({}): run scripts/setup.sh",
        path.display()
    );
    Ok(path)
}

/// A long-running child process in its own process group, its output in a log file.
#[derive(Debug)]
struct Daemon {
    child: Option<Child>,
    name: &'static str,
    log_path: PathBuf,
}

impl Daemon {
    /// Spawns `command` in a new process group, stdin closed, stdout and stderr to `log_path`
    /// (truncated: each start has its own log).
    fn spawn(mut command: Command, name: &'static str, log_path: &Path) -> Result<Daemon> {
        let log = fs::File::create(log_path)
            .with_context(|| format!("creating {}", log_path.display()))?;
        command
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        // Its own group: a stop reaches every process it started, and Ctrl-C in the terminal
        // reaches only the operator tool, which stops it in order.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command
            .spawn()
            .with_context(|| format!("starting {name} (is Node.js installed?)"))?;
        Ok(Daemon {
            child: Some(child),
            name,
            log_path: log_path.to_path_buf(),
        })
    }

    fn group(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// An error, with the log's end, once the process has exited.
    fn check_running(&mut self) -> Result<()> {
        let exited = match self.child.as_mut() {
            Some(child) => child.try_wait()?,
            None => bail!("{} is not running", self.name),
        };
        if let Some(status) = exited {
            bail!(
                "{} exited ({status}) while starting; the end of {}:\n{}",
                self.name,
                self.log_path.display(),
                self.log_tail()
            );
        }
        Ok(())
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    fn log_tail(&self) -> String {
        let text = self.log();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// SIGTERM to the group, up to [`STOP_GRACE`] for the process to exit, then SIGKILL to
    /// the group (also taking down anything it left behind), and reaps it.
    fn stop(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let group = format!("-{}", child.id());
        signal_group("-TERM", &group);
        let deadline = Instant::now() + STOP_GRACE;
        while child.try_wait()?.is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        signal_group("-KILL", &group);
        let _ = child.kill();
        child.wait()?;
        Ok(())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// Sends a signal to a whole process group (`group` is `-<pgid>`); a group already gone is
/// not an error.
fn signal_group(signal: &str, group: &str) {
    let _ = Command::new("kill")
        .args([signal, "--", group])
        .stderr(Stdio::null())
        .status();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_api_multiaddr_becomes_a_url() {
        assert_eq!(
            multiaddr_url("/ip4/127.0.0.1/tcp/5001/http").as_deref(),
            Some("http://127.0.0.1:5001")
        );
        assert_eq!(multiaddr_url("/ip6/::1/tcp/5001"), None);
        assert_eq!(multiaddr_url("/ip4/127.0.0.1/tcp/99999"), None);
    }

    #[test]
    fn configuring_keeps_everything_on_loopback_and_the_rest_of_the_config() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let config = json!({
            "Addresses": {"API": "/ip4/0.0.0.0/tcp/5001", "Gateway": "/ip4/0.0.0.0/tcp/8080",
                          "RPC": "/ip4/127.0.0.1/tcp/5003", "Swarm": ["/ip4/0.0.0.0/tcp/4002"]},
            "Bootstrap": ["/dnsaddr/bootstrap.libp2p.io"],
            "Identity": {"PeerID": "12D3Koo", "PrivKey": "secret"}
        });
        let path = dir.path().join("config");
        fs::write(&path, config.to_string()).expect("written");
        configure_repo(dir.path(), 4321).expect("configures");
        let written: Value = serde_json::from_slice(&fs::read(&path).expect("read")).expect("json");
        assert_eq!(written["Addresses"]["API"], "/ip4/127.0.0.1/tcp/4321");
        assert_eq!(written["Addresses"]["Gateway"], json!([]));
        assert_eq!(written["Addresses"]["RPC"], "/ip4/127.0.0.1/tcp/0");
        assert_eq!(
            written["Addresses"]["Swarm"],
            json!(["/ip4/127.0.0.1/tcp/0"])
        );
        assert_eq!(written["Bootstrap"], json!([]));
        assert_eq!(written["Identity"]["PrivKey"], "secret");
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&path).expect("exists").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn a_stale_lock_and_api_file_are_removed() {
        let dir = tempfile::tempdir().expect("temporary folder");
        // A port nothing listens on: bind one, then let it go.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a port")
            .port();
        fs::write(
            dir.path().join("api"),
            format!("/ip4/127.0.0.1/tcp/{port}/http"),
        )
        .expect("written");
        fs::create_dir(dir.path().join("repo.lock")).expect("created");
        clear_stale_lock(dir.path()).expect("cleared");
        assert!(!dir.path().join("api").exists());
        assert!(!dir.path().join("repo.lock").exists());
    }
}
