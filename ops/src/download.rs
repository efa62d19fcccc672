//! Fetching a backup while reporting its progress (bytes received, of how many when the server
//! says), so `ops restore` can draw a bar; [`crate::backups::fetch`] is this fetch without
//! one.

use std::io::Read;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

use crate::backups::Source;
use crate::http::agent;

/// Largest backup fetched (the envelope's own limit).
const FETCH_BYTES_MAX: u64 = ledger::limits::BACKUP_BYTES_MAX as u64;

/// Bytes read between two progress reports (at most).
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// How long a fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(300);

/// Fetches a backup's bytes from `source`, calling `progress(received, total)` as they arrive
/// (`total` from `Content-Length`, or Kubo's `X-Content-Length`, when given).
pub fn fetch_with_progress(
    source: &Source,
    cid: &str,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> Result<Vec<u8>> {
    ledger::archive::check_cid(cid).map_err(|error| anyhow!("{error}"))?;
    let agent = agent(FETCH_TIMEOUT);
    let mut response = match source {
        Source::Gateway(url) => agent
            .get(format!("{}/ipfs/{cid}", url.trim_end_matches('/')))
            .call(),
        Source::IpfsApi(url) => agent
            .post(format!(
                "{}/api/v0/cat?arg={cid}&timeout=30s",
                url.trim_end_matches('/')
            ))
            .send_empty(),
    }
    .with_context(|| format!("fetching {cid}"))?;
    let status = response.status().as_u16();
    let total = response.body().content_length().or_else(|| {
        response
            .headers()
            .get("x-content-length")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse().ok())
    });
    let mut reader = response
        .body_mut()
        .with_config()
        .limit(FETCH_BYTES_MAX + 1)
        .reader();
    let bytes =
        read_reporting(&mut reader, total, progress).with_context(|| format!("reading {cid}"))?;
    if status != 200 {
        bail!(
            "fetching {cid} answered {status}: {}",
            String::from_utf8_lossy(&bytes)
        );
    }
    Ok(bytes)
}

/// Reads everything from `reader`, reporting the bytes received after each chunk.
fn read_reporting(
    reader: &mut dyn Read,
    total: Option<u64>,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> std::io::Result<Vec<u8>> {
    let mut bytes =
        Vec::with_capacity(total.map_or(0, |total| total.min(FETCH_BYTES_MAX) as usize));
    let mut chunk = vec![0u8; READ_CHUNK_BYTES];
    progress(0, total);
    loop {
        let read = match reader.read(&mut chunk) {
            Ok(0) => return Ok(bytes),
            Ok(read) => read,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        bytes.extend_from_slice(&chunk[..read]);
        progress(bytes.len() as u64, total);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;

    #[test]
    fn progress_counts_every_byte_up_to_the_total() {
        let data = vec![7u8; 200_000];
        let mut reports = Vec::new();
        let bytes = read_reporting(&mut data.as_slice(), Some(200_000), &mut |got, total| {
            reports.push((got, total));
        })
        .expect("reads");
        assert_eq!(bytes, data);
        assert_eq!(reports.first(), Some(&(0, Some(200_000))));
        assert_eq!(reports.last(), Some(&(200_000, Some(200_000))));
        assert!(reports.windows(2).all(|pair| pair[0].0 < pair[1].0));
    }

    /// Serves one HTTP answer on loopback; gives the gateway URL.
    fn serve_once(answer: Vec<u8>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binds");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        std::thread::spawn(move || {
            if let Ok((mut stream, _)) = listener.accept() {
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request);
                let _ = stream.write_all(&answer);
            }
        });
        url
    }

    const CID: &str = "QmNdFhPLBSe5bVhC9vNCEDDQFqNpYxYuhZGgYf5Ek4BzNf";

    #[test]
    fn a_gateway_fetch_reports_the_size_it_announces() {
        let body = b"backup bytes".to_vec();
        let mut answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        answer.extend_from_slice(&body);
        let url = serve_once(answer);
        let mut last = None;
        let bytes = fetch_with_progress(&Source::Gateway(url), CID, &mut |got, total| {
            last = Some((got, total));
        })
        .expect("fetches");
        assert_eq!(bytes, body);
        assert_eq!(last, Some((12, Some(12))));
    }

    #[test]
    fn an_error_answer_is_an_error_with_its_body() {
        let url = serve_once(
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 9\r\nconnection: close\r\n\r\nnot found"
                .to_vec(),
        );
        let error = fetch_with_progress(&Source::Gateway(url), CID, &mut |_, _| {})
            .expect_err("a 404 is an error");
        assert!(error.to_string().contains("404"), "{error}");
    }

    #[test]
    fn a_malformed_cid_is_refused_before_any_request() {
        let error = fetch_with_progress(
            &Source::Gateway("http://127.0.0.1:9".to_owned()),
            "not a cid",
            &mut |_, _| {},
        )
        .expect_err("refused");
        assert!(!error.to_string().contains("fetching"), "{error}");
    }
}
