//! Pinning backends for backups: Pinata (production) and a Kubo-compatible IPFS node's RPC API
//! (self-hosted). Both upload one file, read it back by CID, and remove a pin.
//!
//! The request shapes (multipart bodies, URLs) and the answer parsing are plain functions,
//! tested natively; only [`Pinner::pin`], [`Pinner::fetch`] and [`Pinner::unpin`] touch the
//! runtime's `fetch`.

use ledger::api::ApiError;
use ledger::archive::PinningBackend;
use serde::Deserialize;
use worker::{ByteStream, Fetch, Headers, Method, Request, RequestInit, wasm_bindgen::JsValue};

/// Where backups are pinned, with what it takes to reach it.
#[derive(Clone)]
pub(crate) enum Pinner {
    /// A Kubo-compatible RPC API (`/api/v0/...`).
    Kubo {
        /// Base URL of the RPC API, e.g. `http://127.0.0.1:5001`.
        api_url: String,
    },
    /// Pinata: v3 uploads, its gateway to read back, v3 file deletion.
    Pinata {
        /// `https://api.pinata.cloud` (file management).
        api_url: String,
        /// `https://uploads.pinata.cloud` (uploads).
        uploads_url: String,
        /// The gateway backups are read back from: `https://<gateway>` (without `/ipfs`).
        gateway_url: String,
        /// `public` or `private`.
        network: String,
        /// The API key (a JWT), from the `PINATA_JWT` secret.
        jwt: String,
    },
}

/// A pinned file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pinned {
    /// Its content identifier.
    pub(crate) cid: String,
    /// The backend's own id for it (Pinata's file id), needed to delete it.
    pub(crate) pin_id: Option<String>,
}

/// What a file is uploaded as.
pub(crate) struct Upload<'a> {
    /// The file name.
    pub(crate) name: &'a str,
    /// Pinata key-values (JSON object text), for finding backups in Pinata's dashboard.
    pub(crate) keyvalues: &'a str,
}

/// Boundary of the multipart bodies we send. The file part is binary and its end is found by
/// searching for the boundary, so it is long and fixed: a ciphertext containing it by chance
/// is negligible (2^-384).
const BOUNDARY: &str = "edgeledger-backup-3f6c1e0b9a7d4c28b5e1f0a9d3c7b6e4";

/// How long a read may take before Kubo gives up: it hangs on unknown CIDs, and the timeout
/// covers the whole streamed answer (a cut-off read is caught by the size check).
const CAT_TIMEOUT: &str = "120s";

/// The bytes of a `multipart/form-data` body before the file's bytes (the text fields, then
/// the file part's headers) and after them (the closing boundary).
pub(crate) fn multipart_around(fields: &[(&str, &str)], file_name: &str) -> (Vec<u8>, Vec<u8>) {
    let mut before = String::new();
    for (name, value) in fields {
        before.push_str(&format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    before.push_str(&format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    ));
    let after = format!("\r\n--{BOUNDARY}--\r\n");
    (before.into_bytes(), after.into_bytes())
}

/// Kubo's answer to `/api/v0/add`.
#[derive(Deserialize)]
struct KuboAdded {
    #[serde(rename = "Hash")]
    hash: String,
}

/// Pinata's answer to `POST /v3/files`.
#[derive(Deserialize)]
struct PinataUploaded {
    data: PinataFile,
}

#[derive(Deserialize)]
struct PinataFile {
    id: String,
    cid: String,
}

/// Reads the CID (and Pinata's file id) from an upload's answer.
pub(crate) fn parse_pinned(backend: PinningBackend, body: &[u8]) -> Result<Pinned, String> {
    match backend {
        PinningBackend::Kubo => {
            // `add` answers one JSON object per line (one per file and directory); ours is one file.
            let line = body
                .split(|byte| *byte == b'\n')
                .find(|line| !line.is_empty())
                .ok_or("an empty answer")?;
            let added: KuboAdded = serde_json::from_slice(line).map_err(|e| e.to_string())?;
            Ok(Pinned {
                cid: added.hash,
                pin_id: None,
            })
        }
        PinningBackend::Pinata => {
            let uploaded: PinataUploaded =
                serde_json::from_slice(body).map_err(|error| error.to_string())?;
            Ok(Pinned {
                cid: uploaded.data.cid,
                pin_id: Some(uploaded.data.id),
            })
        }
    }
}

impl Pinner {
    /// Which backend this is.
    pub(crate) fn backend(&self) -> PinningBackend {
        match self {
            Self::Kubo { .. } => PinningBackend::Kubo,
            Self::Pinata { .. } => PinningBackend::Pinata,
        }
    }

    /// The upload request's URL, its text fields and its bearer token.
    fn upload_target<'a>(
        &'a self,
        upload: &Upload<'a>,
    ) -> (String, Vec<(&'a str, &'a str)>, Option<&'a str>) {
        match self {
            Self::Kubo { api_url } => (
                format!("{api_url}/api/v0/add?pin=true&cid-version=0"),
                Vec::new(),
                None,
            ),
            Self::Pinata {
                uploads_url,
                network,
                jwt,
                ..
            } => (
                format!("{uploads_url}/v3/files"),
                vec![
                    ("network", network.as_str()),
                    ("name", upload.name),
                    ("keyvalues", upload.keyvalues),
                ],
                Some(jwt.as_str()),
            ),
        }
    }

    /// What this backend's upload body holds before and after the file's bytes.
    pub(crate) fn framing(&self, upload: &Upload<'_>) -> (Vec<u8>, Vec<u8>) {
        let (_, fields, _) = self.upload_target(upload);
        multipart_around(&fields, upload.name)
    }

    /// Uploads and pins one file. `body` is a JavaScript `ReadableStream` of the whole
    /// multipart body ([`Self::framing`] around the file's bytes), so a large backup is sent
    /// while it is being sealed and never held whole.
    pub(crate) async fn pin(&self, upload: &Upload<'_>, body: JsValue) -> Result<Pinned, ApiError> {
        let (url, _, bearer) = self.upload_target(upload);
        let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
        let answer = send(Method::Post, &url, Some((body, &content_type)), bearer).await?;
        let answer = expect_ok("pinning the backup", answer).await?;
        parse_pinned(self.backend(), &answer).map_err(|error| {
            pin_error(format!(
                "the pinning service's answer is unreadable: {error}"
            ))
        })
    }

    /// Reads a pinned file back, as a stream of bytes.
    pub(crate) async fn fetch(&self, cid: &str) -> Result<ByteStream, ApiError> {
        let (method, url) = match self {
            Self::Kubo { api_url } => (
                Method::Post,
                format!("{api_url}/api/v0/cat?arg={cid}&timeout={CAT_TIMEOUT}"),
            ),
            Self::Pinata { gateway_url, .. } => (Method::Get, format!("{gateway_url}/ipfs/{cid}")),
        };
        let mut response = send(method, &url, None, None).await?;
        if response.status_code() != 200 {
            let status = response.status_code();
            let text = response.text().await.unwrap_or_default();
            return Err(pin_error(format!(
                "reading {cid} back failed with status {status}: {}",
                text.chars().take(200).collect::<String>()
            )));
        }
        response
            .stream()
            .map_err(|error| pin_error(format!("reading {cid}: {error}")))
    }

    /// Removes a pin (a backup that fell out of the retained history).
    pub(crate) async fn unpin(&self, cid: &str, pin_id: Option<&str>) -> Result<(), ApiError> {
        let (method, url, bearer) = match self {
            Self::Kubo { api_url } => (
                Method::Post,
                format!("{api_url}/api/v0/pin/rm?arg={cid}"),
                None,
            ),
            Self::Pinata {
                api_url,
                network,
                jwt,
                ..
            } => {
                let id = pin_id.ok_or_else(|| pin_error(format!("no Pinata file id for {cid}")))?;
                (
                    Method::Delete,
                    format!("{api_url}/v3/files/{network}/{id}"),
                    Some(jwt.as_str()),
                )
            }
        };
        let answer = send(method, &url, None, bearer).await?;
        expect_ok("unpinning an old backup", answer)
            .await
            .map(|_| ())
    }
}

/// 502 `pinning_failed`: the pinning service did not do what was asked.
fn pin_error(message: String) -> ApiError {
    ApiError::new(502, "pinning_failed", message)
}

async fn send(
    method: Method,
    url: &str,
    body: Option<(JsValue, &str)>,
    bearer: Option<&str>,
) -> Result<worker::Response, ApiError> {
    let build = || -> worker::Result<Request> {
        let headers = Headers::new();
        if let Some(token) = bearer {
            headers.set("authorization", &format!("Bearer {token}"))?;
        }
        let mut init = RequestInit::new();
        init.with_method(method.clone());
        if let Some((stream, content_type)) = &body {
            headers.set("content-type", content_type)?;
            init.with_body(Some(stream.clone()));
        }
        init.with_headers(headers);
        Request::new_with_init(url, &init)
    };
    let request = build().map_err(|error| pin_error(format!("building a request: {error}")))?;
    Fetch::Request(request)
        .send()
        .await
        .map_err(|error| pin_error(format!("the pinning service is unreachable: {error}")))
}

/// The body of a 2xx answer, or a `pinning_failed` error quoting the service.
async fn expect_ok(what: &str, mut response: worker::Response) -> Result<Vec<u8>, ApiError> {
    let status = response.status_code();
    let body = response.bytes().await.unwrap_or_default();
    if (200..300).contains(&status) {
        Ok(body)
    } else {
        Err(pin_error(format!(
            "{what} failed with status {status}: {}",
            String::from_utf8_lossy(&body)
                .chars()
                .take(300)
                .collect::<String>()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_multipart_parts_around_the_file_bytes_make_a_well_formed_body() {
        let bytes = [0u8, 13, 10, 45, 45, 255];
        let (before, after) = multipart_around(&[("network", "public")], "b.bkp");
        let body = [before.as_slice(), &bytes, after.as_slice()].concat();
        let text = String::from_utf8_lossy(&body);
        assert!(text.starts_with(&format!("--{BOUNDARY}\r\n")));
        assert!(text.contains("name=\"network\"\r\n\r\npublic\r\n"));
        assert!(text.contains("name=\"file\"; filename=\"b.bkp\""));
        assert!(before.ends_with(b"Content-Type: application/octet-stream\r\n\r\n"));
        assert_eq!(&body[before.len()..before.len() + bytes.len()], &bytes);
        assert!(body.ends_with(format!("\r\n--{BOUNDARY}--\r\n").as_bytes()));
        // Exactly two boundary lines and the closing one: the field and the file.
        assert_eq!(text.matches(&format!("--{BOUNDARY}")).count(), 3);
    }

    #[test]
    fn upload_answers_give_the_cid_and_pinatas_file_id() {
        let kubo = br#"{"Name":"b.bkp","Hash":"QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG","Size":"12"}
"#;
        assert_eq!(
            parse_pinned(PinningBackend::Kubo, kubo),
            Ok(Pinned {
                cid: "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG".to_owned(),
                pin_id: None
            })
        );
        let pinata =
            br#"{"data":{"id":"0195-ab","name":"b.bkp","cid":"QmX","size":12,"network":"public"}}"#;
        assert_eq!(
            parse_pinned(PinningBackend::Pinata, pinata),
            Ok(Pinned {
                cid: "QmX".to_owned(),
                pin_id: Some("0195-ab".to_owned())
            })
        );
        assert!(parse_pinned(PinningBackend::Pinata, b"{\"error\":1}").is_err());
        assert!(parse_pinned(PinningBackend::Kubo, b"").is_err());
    }
}
