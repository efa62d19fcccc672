//! `GET /dashboard`: the operator's web page. Three static files compiled into the Worker
//! (`sequencer/dashboard/`: no build step, no framework, nothing from another origin). The page
//! reads the public API from the browser (`/v1/status`, `/metrics`, `/v1/blocks/…`, …); its
//! admin panel sends the token the operator types, which the page keeps in `sessionStorage`
//! only.

use worker::{Headers, Response};

/// The page.
const PAGE: &str = include_str!("../dashboard/index.html");

/// Its script.
const SCRIPT: &str = include_str!("../dashboard/app.js");

/// Its style sheet.
const STYLE: &str = include_str!("../dashboard/app.css");

/// Everything the page may load or call comes from this origin; no inline script or style,
/// no frames, no forms posting elsewhere.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// A dashboard file.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Asset {
    /// `/dashboard`.
    Page,
    /// `/dashboard/app.js`.
    Script,
    /// `/dashboard/app.css`.
    Style,
}

/// The file, with its content type and the page's security headers.
pub(crate) fn serve(asset: Asset) -> worker::Result<Response> {
    let (body, content_type) = match asset {
        Asset::Page => (PAGE, "text/html; charset=utf-8"),
        Asset::Script => (SCRIPT, "text/javascript; charset=utf-8"),
        Asset::Style => (STYLE, "text/css; charset=utf-8"),
    };
    let headers = Headers::new();
    headers.set("content-type", content_type)?;
    headers.set("cache-control", "no-store")?;
    headers.set("content-security-policy", CONTENT_SECURITY_POLICY)?;
    headers.set("x-content-type-options", "nosniff")?;
    headers.set("referrer-policy", "no-referrer")?;
    headers.set("x-frame-options", "DENY")?;
    Ok(Response::from_bytes(body.as_bytes().to_vec())?
        .with_status(200)
        .with_headers(headers))
}
