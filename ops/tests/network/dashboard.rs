//! `GET /dashboard` on the live network: the page and its files answer with their content
//! types and a strict content security policy, other methods are refused; then a real browser
//! (Debian's headless Chromium driven by playwright-core, `ops/tests/browser/dashboard.mjs`)
//! uses the page as an operator would: the head it shows is the chain's, a committed transfer
//! and an account are found with the lookup box (the page verifies the account's proof, and
//! fails an answer altered in transit), a wrong admin token is refused with 401, and the right
//! one pauses and resumes production, makes a backup that the backup list then shows, and
//! restores it. Its screenshots land in `<repository>/artifacts/dashboard/`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use ledger::api::{SubmissionStatus, TxState};
use ledger::primitives::U256;
use ledger::random::SplitMix64;

use crate::harness::{Network, NetworkOptions, Transfers};
use crate::{COMMIT_TIMEOUT, random_address};

/// The screenshots the browser test takes, in `artifacts/dashboard/`.
const SCREENSHOTS: [&str; 4] = [
    "dashboard-loaded.png",
    "dashboard-account.png",
    "dashboard-backup.png",
    "dashboard-restored.png",
];

/// The policy the page must be served with: nothing from another origin, no inline code.
const EXPECTED_POLICY: [&str; 5] = [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "connect-src 'self'",
    "frame-ancestors 'none'",
];

#[test]
fn the_dashboard_shows_the_chain_verifies_a_proof_and_backs_up_and_restores_in_a_browser() {
    let root = ops::devnet::repository_root();
    let script = repository_file(&root, "ops/tests/browser/dashboard.mjs", "the browser test");
    repository_file(
        &root,
        "node_modules/playwright-core/package.json",
        "playwright-core (npm)",
    );
    let chromium = Path::new("/usr/bin/chromium");
    assert!(
        chromium.exists(),
        "Debian's chromium is missing ({}): run scripts/setup.sh",
        chromium.display()
    );

    let network = Network::start_with(NetworkOptions::default());
    check_http(&network);

    let mut transfers = Transfers::new(&network);
    let to = random_address(&mut SplitMix64::new(41));
    let results = network
        .client
        .submit_batch(&[transfers.transfer(0, to, U256::from(12_345u64))]);
    assert_eq!(results[0].status, SubmissionStatus::Accepted, "{results:?}");
    let hash = results[0].hash;
    let finals = network.client.wait_final(&[hash], COMMIT_TIMEOUT);
    assert_eq!(finals[0].status, TxState::Committed, "{finals:?}");

    let screenshots = root.join("artifacts/dashboard");
    for name in SCREENSHOTS {
        // A screenshot left by an earlier run must not pass for this one's.
        let _ = std::fs::remove_file(screenshots.join(name));
    }
    let browser = Command::new("node")
        .arg(&script)
        .args(["--url", network.client.base()])
        .args(["--token", &network.admin_token])
        .arg("--screenshots")
        .arg(&screenshots)
        .args(["--tx", &hash.to_string()])
        .args(["--address", &to.to_string()])
        .current_dir(&root)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("node is not runnable ({error}): run scripts/setup.sh"));
    // Traffic while the page is open, so its throughput, latency and mempool charts move.
    let mut live = Vec::new();
    for round in 0..4u64 {
        std::thread::sleep(Duration::from_secs(1));
        let raws: Vec<Vec<u8>> = (1..network.keys.len())
            .map(|sender| transfers.transfer(sender, to, U256::from(round + 1)))
            .collect();
        live.extend(
            network
                .client
                .submit_batch(&raws)
                .into_iter()
                .map(|result| result.hash),
        );
    }
    let output = browser
        .wait_with_output()
        .expect("the browser test's output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the browser test failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(stdout.contains("dashboard: ok"), "{stdout}\n{stderr}");
    eprintln!("{stdout}");

    for name in SCREENSHOTS {
        let path = screenshots.join(name);
        let bytes = std::fs::read(&path)
            .unwrap_or_else(|error| panic!("no screenshot {}: {error}", path.display()));
        assert!(
            bytes.len() > 1_000 && bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
            "{} is not a PNG with content ({} bytes)",
            path.display(),
            bytes.len()
        );
    }

    // The browser restored the backup of the paused head: the history before it stays
    // readable (nothing to fetch from KV), and every transfer acknowledged is committed.
    let again = network.client.wait_final(&[hash], COMMIT_TIMEOUT);
    assert_eq!(
        (again[0].status, again[0].height),
        (TxState::Committed, finals[0].height),
        "{again:?}"
    );
    network.client.wait_committed(&live, COMMIT_TIMEOUT);

    // The backup the browser made is the index's latest, at the committed transfer's height
    // or later.
    let index = network.admin("GET", "/v1/admin/backups", None);
    assert_eq!(index.status, 200, "{}", index.text());
    let index: ledger::archive::BackupIndex = index.json();
    let latest = index.latest.expect("the browser made a backup");
    assert!(
        stdout.contains(&latest.cid),
        "the browser's backup {stdout} is not the latest {}",
        latest.cid
    );
    assert!(latest.height >= finals[0].height.unwrap_or(1));
}

/// The page, its script and style sheet over plain HTTP: 200 with their content types and the
/// policy; `POST` is 405 and an unknown file 404, as JSON errors.
fn check_http(network: &Network) {
    for (path, content_type) in [
        ("/dashboard", "text/html; charset=utf-8"),
        ("/dashboard/app.js", "text/javascript; charset=utf-8"),
        ("/dashboard/app.css", "text/css; charset=utf-8"),
    ] {
        let (status, headers, body) = get_with_headers(&format!("{}{path}", network.client.base()));
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(header(&headers, "content-type"), content_type, "{path}");
        let policy = header(&headers, "content-security-policy");
        for directive in EXPECTED_POLICY {
            assert!(
                policy.contains(directive),
                "{path}: {policy:?} lacks {directive}"
            );
        }
        assert_eq!(header(&headers, "x-content-type-options"), "nosniff");
        assert!(!body.is_empty(), "{path} is empty");
        assert!(
            !body.contains(&network.admin_token),
            "{path} carries the admin token"
        );
    }
    let (_, _, page) = get_with_headers(&format!("{}/dashboard", network.client.base()));
    for id in [
        "head-height",
        "mempool-size",
        "lookup-input",
        "lookup-result",
        "recent-blocks",
        "admin-token",
    ] {
        assert!(
            page.contains(&format!("id=\"{id}\"")),
            "the page lacks #{id}"
        );
    }
    assert!(
        !page.contains("<script>") && !page.contains("style=\"") && !page.contains("http"),
        "the page has inline code or loads from elsewhere"
    );
    let answer = network.client.send("POST", "/dashboard", &[], Some(b"x"));
    assert_eq!(
        (answer.status, answer.error_code().as_str()),
        (405, "method_not_allowed")
    );
    let answer = network.client.get("/dashboard/other.js");
    assert_eq!(
        (answer.status, answer.error_code().as_str()),
        (404, "not_found")
    );
}

/// A GET whose response headers the test reads (the shared client keeps only the content type).
fn get_with_headers(url: &str) -> (u16, Vec<(String, String)>, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let mut response = agent
        .get(url)
        .call()
        .unwrap_or_else(|error| panic!("GET {url}: {error}"));
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                value.to_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let body = response
        .body_mut()
        .read_to_string()
        .expect("a readable body");
    (response.status().as_u16(), headers, body)
}

fn header(headers: &[(String, String)], name: &str) -> String {
    headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.clone())
        .unwrap_or_default()
}

/// A file of the repository that setup installs; panics saying so when it is missing.
fn repository_file(root: &Path, relative: &str, what: &str) -> PathBuf {
    let path = root.join(relative);
    assert!(
        path.exists(),
        "{what} is missing ({}): run scripts/setup.sh",
        path.display()
    );
    path
}
