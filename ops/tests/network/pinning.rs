//! The local network's off-site store on its own: a real IPFS node and the Pinata stand-in in a
//! temporary folder (no Workers needed), each answer checked against the IPFS node's own view:
//! its CIDs (`add?only-hash=true`) and its pins (`pin/ls`).

use std::path::Path;

use ledger::random::SplitMix64;
use ops::ipfs::{IpfsNode, PinataStandin};
use serde_json::Value;

use crate::client::{Answer, Client};

/// An IPFS node and a stand-in in front of it, in their own folder.
struct Store {
    ipfs: Option<IpfsNode>,
    pinata: Option<PinataStandin>,
    ipfs_client: Client,
    pinata_client: Client,
    jwt: String,
    dir: tempfile::TempDir,
}

/// The token the stand-in is started with.
const JWT: &str = "test-jwt-0123456789abcdef";

impl Store {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        std::fs::write(dir.path().join("pinata.jwt"), format!("{JWT}\n")).expect("written");
        let (ipfs, pinata) = start_services(
            dir.path(),
            ops::ports::reserve_one().expect("a free port"),
            ops::ports::reserve_one().expect("a free port"),
        );
        Self {
            ipfs_client: Client::new(ipfs.api_url()),
            pinata_client: Client::new(pinata.url()),
            ipfs: Some(ipfs),
            pinata: Some(pinata),
            jwt: JWT.to_owned(),
            dir,
        }
    }

    /// Stops both (or kills the node at once, as a crash would) and starts them again on the
    /// same folder and ports.
    fn restart(&mut self, crash: bool) {
        let ipfs_port = port_of(self.ipfs_client_base());
        let pinata_port = port_of(self.pinata_url());
        if let Some(pinata) = self.pinata.take() {
            pinata.stop().expect("the stand-in stops");
        }
        if let Some(ipfs) = self.ipfs.take() {
            if crash {
                let group = ipfs.process_group().expect("running");
                let killed = std::process::Command::new("kill")
                    .args(["-KILL", "--", &format!("-{group}")])
                    .status()
                    .expect("kill runs");
                assert!(killed.success());
            }
            ipfs.stop().expect("the node stops");
        }
        let (ipfs, pinata) = start_services(self.dir.path(), ipfs_port, pinata_port);
        self.ipfs = Some(ipfs);
        self.pinata = Some(pinata);
    }

    fn ipfs_client_base(&self) -> &str {
        self.ipfs.as_ref().expect("running").api_url()
    }

    fn pinata_url(&self) -> &str {
        self.pinata.as_ref().expect("running").url()
    }

    fn bearer(&self) -> String {
        format!("Bearer {}", self.jwt)
    }

    /// A request to the stand-in with the right token.
    fn pinata(&self, method: &str, path: &str, form: Option<&Form>) -> Answer {
        self.pinata_with(method, path, form, Some(&self.bearer()))
    }

    /// A request to the stand-in with the given `Authorization` header, or none.
    fn pinata_with(
        &self,
        method: &str,
        path: &str,
        form: Option<&Form>,
        authorization: Option<&str>,
    ) -> Answer {
        let mut headers = Vec::new();
        if let Some(authorization) = authorization {
            headers.push(("authorization", authorization));
        }
        let content_type = form.map(Form::content_type);
        if let Some(content_type) = &content_type {
            headers.push(("content-type", content_type.as_str()));
        }
        let body = form.map(Form::encoded);
        self.pinata_client
            .send(method, path, &headers, body.as_deref())
    }

    /// The CID the IPFS node computes for `bytes`, without storing them.
    fn cid_of(&self, bytes: &[u8]) -> String {
        let mut form = Form::new();
        form.file("file", "data", "application/octet-stream", bytes);
        let answer = self.ipfs_client.send(
            "POST",
            "/api/v0/add?only-hash=true&pin=false",
            &[("content-type", &form.content_type())],
            Some(&form.encoded()),
        );
        assert_eq!(answer.status, 200, "{}", text(&answer));
        answer.json::<Value>()["Hash"]
            .as_str()
            .expect("a Hash")
            .to_owned()
    }

    /// Whether the IPFS node lists `cid` among its pins.
    fn is_pinned(&self, cid: &str) -> bool {
        let answer = self
            .ipfs_client
            .send("POST", &format!("/api/v0/pin/ls?arg={cid}"), &[], None);
        // An unpinned CID is an error answer ("not pinned"), from Kubo and js-ipfs alike.
        answer.status == 200 && answer.json::<Value>()["Keys"].get(cid).is_some()
    }

    /// `GET /ipfs/{cid}` from the stand-in's gateway.
    fn gateway(&self, cid: &str) -> Answer {
        self.pinata_client.get(&format!("/ipfs/{cid}"))
    }

    /// A v3 upload of `bytes` on the private network, checked to succeed; its `data`.
    fn upload(&self, bytes: &[u8], name: &str) -> Value {
        let mut form = Form::new();
        form.file("file", "backup.bin", "application/octet-stream", bytes);
        form.field("network", "private");
        form.field("name", name);
        form.field("keyvalues", r#"{"chain":"31337","kind":"backup"}"#);
        let answer = self.pinata("POST", "/v3/files", Some(&form));
        assert_eq!(answer.status, 200, "{}", text(&answer));
        answer.json::<Value>()["data"].clone()
    }
}

fn start_services(dir: &Path, ipfs_port: u16, pinata_port: u16) -> (IpfsNode, PinataStandin) {
    let ipfs = IpfsNode::start(&dir.join("ipfs"), ipfs_port).expect("the IPFS node starts");
    let pinata = PinataStandin::start(
        ipfs.api_url(),
        &dir.join("pinata.jwt"),
        pinata_port,
        &dir.join("pinata-standin.log"),
        Some(&dir.join("ipfs/pinata-standin.json")),
    )
    .expect("the Pinata stand-in starts");
    (ipfs, pinata)
}

impl Drop for Store {
    /// A failing test shows what the services logged, since their folder is deleted.
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Some(ipfs) = &self.ipfs {
                eprintln!("--- the IPFS node's log (end) ---\n{}", ipfs.log_tail());
            }
            if let Some(pinata) = &self.pinata {
                eprintln!("--- the stand-in's log (end) ---\n{}", pinata.log_tail());
            }
        }
    }
}

/// A multipart/form-data body, built by hand as a client without a multipart library would.
struct Form {
    boundary: String,
    /// The parts so far (without the closing delimiter).
    parts: Vec<u8>,
}

impl Form {
    fn new() -> Self {
        Self {
            // Any string the parts do not contain; the stand-in must find it in the header.
            boundary: "----edgeledger-test-7d1c0a9f".to_owned(),
            parts: Vec::new(),
        }
    }

    fn field(&mut self, name: &str, value: &str) {
        self.part(
            &format!("Content-Disposition: form-data; name=\"{name}\""),
            value.as_bytes(),
        );
    }

    fn file(&mut self, name: &str, filename: &str, content_type: &str, bytes: &[u8]) {
        self.part(
            &format!(
                "Content-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\n\
                 Content-Type: {content_type}"
            ),
            bytes,
        );
    }

    fn part(&mut self, headers: &str, data: &[u8]) {
        self.parts
            .extend_from_slice(format!("--{}\r\n{headers}\r\n\r\n", self.boundary).as_bytes());
        self.parts.extend_from_slice(data);
        self.parts.extend_from_slice(b"\r\n");
    }

    fn content_type(&self) -> String {
        format!("multipart/form-data; boundary={}", self.boundary)
    }

    /// The body: the parts and the closing delimiter.
    fn encoded(&self) -> Vec<u8> {
        let mut body = self.parts.clone();
        body.extend_from_slice(format!("--{}--\r\n", self.boundary).as_bytes());
        body
    }
}

fn text(answer: &Answer) -> String {
    format!(
        "status {}: {}",
        answer.status,
        String::from_utf8_lossy(&answer.body)
    )
}

/// Bytes that look like an encrypted backup: random, and several IPFS chunks (256 KiB each)
/// long, so the CID is that of a real multi-block DAG. Includes every byte value and
/// `\r\n--`, which a multipart parser must not trip over.
fn backup_bytes(seed: u64, length: usize) -> Vec<u8> {
    let mut random = SplitMix64::new(seed);
    let mut bytes: Vec<u8> = (0..length).map(|_| random.next_u64() as u8).collect();
    bytes[100..106].copy_from_slice(b"\r\n--\r\n");
    bytes
}

fn port_of(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .and_then(|port| port.parse().ok())
        .expect("a URL with a port")
}

/// Whether a JSON error answer has Pinata's shape: `{"error": {...}}` with a message.
fn is_pinata_error(answer: &Answer) -> bool {
    let body: Value = answer.json();
    let error = &body["error"];
    error["message"].is_string() || error["details"].is_string()
}

#[test]
fn a_v3_upload_is_pinned_under_the_cid_ipfs_computes_and_the_gateway_returns_its_bytes() {
    let store = Store::start();
    let bytes = backup_bytes(1, 700 * 1024 + 17);
    let expected_cid = store.cid_of(&bytes);
    assert!(expected_cid.starts_with("Qm"), "CIDv0: {expected_cid}");
    assert!(
        !store.is_pinned(&expected_cid),
        "only-hash must not store or pin"
    );

    let data = store.upload(&bytes, "backup-000001");
    assert_eq!(data["cid"], expected_cid.as_str());
    assert_eq!(data["size"], bytes.len());
    assert_eq!(data["name"], "backup-000001");
    assert_eq!(data["number_of_files"], 1);
    assert_eq!(data["mime_type"], "application/octet-stream");
    assert_eq!(data["network"], "private");
    assert_eq!(data["keyvalues"]["chain"], "31337");
    assert_eq!(
        data["id"].as_str().map(str::len),
        Some(36),
        "a UUID: {data}"
    );
    assert!(data["created_at"].is_string());
    assert!(store.is_pinned(&expected_cid));

    let answer = store.gateway(&expected_cid);
    assert_eq!(answer.status, 200, "{}", text(&answer));
    assert!(answer.body == bytes, "the gateway changed the bytes");

    // The listing finds it by CID, on its network only.
    let listed = store.pinata(
        "GET",
        &format!("/v3/files/private?cid={expected_cid}"),
        None,
    );
    assert_eq!(listed.status, 200, "{}", text(&listed));
    let listed: Value = listed.json();
    assert_eq!(listed["data"]["files"][0]["id"], data["id"]);
    assert_eq!(listed["data"]["files"].as_array().map(Vec::len), Some(1));
    assert!(listed["data"]["next_page_token"].is_null());
    let public: Value = store
        .pinata("GET", &format!("/v3/files/public?cid={expected_cid}"), None)
        .json();
    assert_eq!(public["data"]["files"].as_array().map(Vec::len), Some(0));
}

#[test]
fn the_legacy_pin_file_to_ipfs_and_unpin_endpoints_work() {
    let store = Store::start();
    let bytes = backup_bytes(2, 300 * 1024);
    let expected_cid = store.cid_of(&bytes);
    let mut form = Form::new();
    form.file("file", "backup.bin", "application/octet-stream", &bytes);
    form.field("pinataMetadata", r#"{"name":"backup-legacy"}"#);
    let answer = store.pinata("POST", "/pinning/pinFileToIPFS", Some(&form));
    assert_eq!(answer.status, 200, "{}", text(&answer));
    let pinned: Value = answer.json();
    assert_eq!(pinned["IpfsHash"], expected_cid.as_str());
    // PinSize is the DAG's size: the bytes and the blocks' framing.
    let pin_size = pinned["PinSize"].as_u64().expect("a PinSize number");
    assert!(pin_size > bytes.len() as u64, "{pinned}");
    assert!(pinned["Timestamp"].is_string());
    assert!(store.is_pinned(&expected_cid));
    assert!(store.gateway(&expected_cid).body == bytes);

    let unpinned = store.pinata("DELETE", &format!("/pinning/unpin/{expected_cid}"), None);
    assert_eq!(unpinned.status, 200, "{}", text(&unpinned));
    assert_eq!(unpinned.body, b"OK");
    assert!(!store.is_pinned(&expected_cid));
    // Unpinning again: the stand-in holds nothing under that CID any more.
    let again = store.pinata("DELETE", &format!("/pinning/unpin/{expected_cid}"), None);
    assert_eq!(again.status, 404, "{}", text(&again));
    assert!(is_pinata_error(&again));
}

#[test]
fn a_wrong_or_missing_token_is_refused_with_a_json_401_and_stores_nothing() {
    let store = Store::start();
    let bytes = backup_bytes(3, 4096);
    let cid = store.cid_of(&bytes);
    let mut form = Form::new();
    form.file("file", "backup.bin", "application/octet-stream", &bytes);
    form.field("network", "public");
    let wrong = format!("Bearer {JWT}x");
    let calls: [(&str, String, Option<&Form>); 5] = [
        ("POST", "/v3/files".to_owned(), Some(&form)),
        ("POST", "/pinning/pinFileToIPFS".to_owned(), Some(&form)),
        ("GET", "/v3/files/public".to_owned(), None),
        ("DELETE", format!("/pinning/unpin/{cid}"), None),
        ("POST", format!("/__standin/tamper?cid={cid}"), None),
    ];
    for (method, path, body) in &calls {
        for authorization in [None, Some(wrong.as_str()), Some("Basic abc"), Some(JWT)] {
            let answer = store.pinata_with(method, path, *body, authorization);
            assert_eq!(
                answer.status,
                401,
                "{method} {path} with {authorization:?}: {}",
                text(&answer)
            );
            assert!(answer.content_type.starts_with("application/json"));
            assert!(is_pinata_error(&answer), "{}", text(&answer));
        }
    }
    assert!(!store.is_pinned(&cid), "a refused upload was pinned");

    // With the token, malformed input is a JSON 400 and an unknown path a JSON 404.
    let mut no_file = Form::new();
    no_file.field("network", "public");
    let mut bad_network = Form::new();
    bad_network.file("file", "b.bin", "application/octet-stream", &bytes);
    bad_network.field("network", "moon");
    for form in [&no_file, &bad_network] {
        let answer = store.pinata("POST", "/v3/files", Some(form));
        assert_eq!(answer.status, 400, "{}", text(&answer));
        assert!(is_pinata_error(&answer));
    }
    let not_multipart = store.pinata_client.send(
        "POST",
        "/v3/files",
        &[
            ("authorization", &store.bearer()),
            ("content-type", "application/json"),
        ],
        Some(b"{}"),
    );
    assert_eq!(not_multipart.status, 400, "{}", text(&not_multipart));
    let unknown = store.pinata("GET", "/v3/nothing/here", None);
    assert_eq!(unknown.status, 404, "{}", text(&unknown));
    assert!(is_pinata_error(&unknown));
}

#[test]
fn deleting_a_file_unpins_it_once_no_other_file_holds_its_cid() {
    let store = Store::start();
    let bytes = backup_bytes(4, 100 * 1024);
    let first = store.upload(&bytes, "first");
    let second = store.upload(&bytes, "second");
    let cid = first["cid"].as_str().expect("a cid").to_owned();
    assert_eq!(second["cid"], cid.as_str());
    assert_ne!(first["id"], second["id"]);

    let delete = |data: &Value| {
        let id = data["id"].as_str().expect("an id");
        store.pinata("DELETE", &format!("/v3/files/private/{id}"), None)
    };
    let answer = delete(&first);
    assert_eq!(answer.status, 200, "{}", text(&answer));
    assert_eq!(answer.json::<Value>(), serde_json::json!({"data": null}));
    assert!(store.is_pinned(&cid), "the second file still holds the CID");
    let answer = delete(&second);
    assert_eq!(answer.status, 200, "{}", text(&answer));
    assert!(!store.is_pinned(&cid), "deleted, yet still pinned");
    let listed: Value = store
        .pinata("GET", &format!("/v3/files/private?cid={cid}"), None)
        .json();
    assert_eq!(listed["data"]["files"].as_array().map(Vec::len), Some(0));
    let again = delete(&second);
    assert_eq!(again.status, 404, "{}", text(&again));
    assert!(is_pinata_error(&again));
    // The wrong network does not find a file either.
    let other = store.upload(&bytes, "third");
    let id = other["id"].as_str().expect("an id");
    let wrong_network = store.pinata("DELETE", &format!("/v3/files/public/{id}"), None);
    assert_eq!(wrong_network.status, 404, "{}", text(&wrong_network));
    assert!(store.is_pinned(&cid));
}

#[test]
fn tampering_flips_exactly_one_byte_of_gateway_reads_until_switched_off() {
    let store = Store::start();
    let bytes = backup_bytes(5, 50 * 1024);
    let cid = store.upload(&bytes, "tampered")["cid"]
        .as_str()
        .expect("a cid")
        .to_owned();
    let on = store.pinata("POST", &format!("/__standin/tamper?cid={cid}"), None);
    assert_eq!(on.status, 200, "{}", text(&on));
    let read = store.gateway(&cid);
    assert_eq!(read.status, 200, "{}", text(&read));
    assert_eq!(read.body.len(), bytes.len());
    let differing = read
        .body
        .iter()
        .zip(&bytes)
        .filter(|(read, stored)| read != stored)
        .count();
    assert_eq!(differing, 1, "exactly one byte differs");
    // The node itself still holds the intact bytes: only the gateway's answer is altered.
    assert_eq!(store.cid_of(&bytes), cid);

    let off = store.pinata("POST", &format!("/__standin/tamper?cid={cid}&off=1"), None);
    assert_eq!(off.status, 200, "{}", text(&off));
    assert!(store.gateway(&cid).body == bytes, "intact again");
}

#[test]
fn the_gateway_answers_404_json_for_content_it_does_not_hold() {
    let store = Store::start();
    let absent = store.cid_of(b"never uploaded");
    let answer = store.gateway(&absent);
    assert_eq!(answer.status, 404, "{}", text(&answer));
    assert!(is_pinata_error(&answer));
    let invalid = store.gateway("not-a-cid");
    assert_eq!(invalid.status, 400, "{}", text(&invalid));
}

#[test]
fn files_and_pins_survive_a_restart_and_a_crash_of_the_node() {
    let mut store = Store::start();
    let bytes = backup_bytes(6, 20 * 1024);
    let data = store.upload(&bytes, "kept");
    let cid = data["cid"].as_str().expect("a cid").to_owned();
    for crash in [false, true] {
        store.restart(crash);
        assert!(store.is_pinned(&cid), "after a restart (crash: {crash})");
        assert!(store.gateway(&cid).body == bytes);
        let listed: Value = store
            .pinata("GET", &format!("/v3/files/private?cid={cid}"), None)
            .json();
        assert_eq!(listed["data"]["files"][0]["id"], data["id"]);
    }
}
