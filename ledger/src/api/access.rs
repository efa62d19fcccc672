//! Who may use the public API how often, and from which web origins.
//!
//! **Rate limiting.** The front door asks Cloudflare's rate-limiting binding about every
//! public request, keyed by the client's IP (`CF-Connecting-IP`, which Cloudflare sets and a
//! client cannot). The binding counts in windows of [`RateLimit::period_secs`] and only says
//! yes or no; these rules choose the key and build the 429 answer with its `Retry-After`.
//!
//! **CORS.** The dashboard is served by the front door itself, so it needs no cross-origin
//! access at all; by default no other origin gets any. An operator who hosts a page elsewhere
//! lists its origins in `CORS_ORIGINS`, and those get exactly what the dashboard uses: `GET`
//! and `POST` with `Accept`, `Content-Type`, `Authorization` and `X-Request-Id`, and may read
//! `X-Request-Id` and `Retry-After`. A preflight from any other origin is refused with 403.

use super::ApiError;

/// Key under which requests without a client IP are counted (only in local development:
/// Cloudflare sets `CF-Connecting-IP` on every request it forwards).
pub const UNKNOWN_CLIENT: &str = "unknown";

/// Origins listed in `CORS_ORIGINS` at most.
pub const CORS_ORIGINS_MAX: usize = 16;

/// Methods a cross-origin page may use: those the dashboard uses.
pub const CORS_ALLOWED_METHODS: &str = "GET, POST";

/// Request headers a cross-origin page may send: those the dashboard sends.
pub const CORS_ALLOWED_HEADERS: &str = "accept, authorization, content-type, x-request-id";

/// Answer headers a cross-origin page may read.
pub const CORS_EXPOSED_HEADERS: &str = "retry-after, x-request-id";

/// How long a browser may cache a preflight answer, in seconds.
pub const CORS_MAX_AGE_SECS: u32 = 600;

/// The per-client limit, as configured on the rate-limiting binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Length of the binding's counting window: 10 or 60 seconds (the binding's choices).
    pub period_secs: u64,
}

impl RateLimit {
    /// Reads the `RATE_LIMIT_PERIOD_SECS` variable (default 10): it must equal the binding's
    /// `period`, which the Worker cannot read.
    pub fn from_var(value: Option<&str>) -> Result<Self, String> {
        match value.map(str::trim) {
            None | Some("") | Some("10") => Ok(Self { period_secs: 10 }),
            Some("60") => Ok(Self { period_secs: 60 }),
            Some(other) => Err(format!(
                "RATE_LIMIT_PERIOD_SECS must be 10 or 60 (the binding's periods), not {other:?}"
            )),
        }
    }

    /// Seconds until the window that refused a request at `now_ms` ends: what `Retry-After`
    /// says. At least 1, at most the period.
    pub const fn retry_after_secs(&self, now_ms: u64) -> u64 {
        let into_window = (now_ms / 1_000) % self.period_secs;
        self.period_secs - into_window
    }

    /// The 429 answer for a client over its share.
    pub fn refusal(&self, now_ms: u64) -> ApiError {
        ApiError::new(
            429,
            "rate_limited",
            format!(
                "too many requests from this client; retry after {} s",
                self.retry_after_secs(now_ms)
            ),
        )
    }
}

/// The key a request is counted under: the client's IP as Cloudflare reports it.
pub fn client_key(connecting_ip: Option<&str>) -> String {
    match connecting_ip.map(str::trim) {
        Some(ip) if !ip.is_empty() => ip.to_ascii_lowercase(),
        _ => UNKNOWN_CLIENT.to_owned(),
    }
}

/// The origins allowed cross-origin access.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CorsPolicy {
    origins: Vec<String>,
}

/// What to do about a request's `Origin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsDecision {
    /// Not a cross-origin request (no `Origin`), or one from an origin not allowed: answer
    /// without CORS headers (a browser then keeps the answer from the page).
    None,
    /// An allowed origin: answer with `Access-Control-Allow-Origin` set to it.
    Allow(String),
}

impl CorsPolicy {
    /// Parses `CORS_ORIGINS`: a comma-separated list of origins such as
    /// `https://ops.example.com`, each a scheme and host (and port), without path.
    pub fn from_var(value: Option<&str>) -> Result<Self, String> {
        let origins: Vec<String> = value
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|origin| !origin.is_empty())
            .map(parse_origin)
            .collect::<Result<_, _>>()?;
        if origins.len() > CORS_ORIGINS_MAX {
            return Err(format!(
                "CORS_ORIGINS lists {} origins; at most {CORS_ORIGINS_MAX}",
                origins.len()
            ));
        }
        Ok(Self { origins })
    }

    /// The allowed origins.
    pub fn origins(&self) -> &[String] {
        &self.origins
    }

    /// The decision for an ordinary request carrying `origin`.
    pub fn decide(&self, origin: Option<&str>) -> CorsDecision {
        match origin {
            Some(origin) if self.allows(origin) => CorsDecision::Allow(origin.to_owned()),
            _ => CorsDecision::None,
        }
    }

    /// A preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`): the origin
    /// to allow, or 403 when the origin or the method is not allowed.
    pub fn preflight(
        &self,
        origin: Option<&str>,
        method: Option<&str>,
    ) -> Result<String, ApiError> {
        let origin = origin.ok_or_else(|| {
            ApiError::new(
                405,
                "method_not_allowed",
                "OPTIONS is only answered as a CORS preflight (with an Origin header)",
            )
        })?;
        if !self.allows(origin) {
            return Err(ApiError::new(
                403,
                "cors_origin_refused",
                format!("origin {origin} may not use this API from a browser"),
            ));
        }
        match method.map(str::trim) {
            Some(method) if ["GET", "POST"].contains(&method) => Ok(origin.to_owned()),
            Some(method) => Err(ApiError::new(
                403,
                "cors_method_refused",
                format!("{method} is not allowed cross-origin; use {CORS_ALLOWED_METHODS}"),
            )),
            None => Err(ApiError::bad_request(
                "cors_preflight_malformed",
                "a preflight needs Access-Control-Request-Method",
            )),
        }
    }

    fn allows(&self, origin: &str) -> bool {
        self.origins
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(origin))
    }
}

/// Checks one origin of `CORS_ORIGINS`: `http` or `https`, a host, no path, no wildcard.
fn parse_origin(origin: &str) -> Result<String, String> {
    let host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or_else(|| format!("CORS origin {origin:?} must start with http:// or https://"))?;
    let valid = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if valid {
        Ok(origin.to_owned())
    } else {
        Err(format!(
            "CORS origin {origin:?} must be a scheme and a host (and port), with no path or *"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_counts_down_to_the_end_of_the_window() {
        let limit = RateLimit { period_secs: 10 };
        assert_eq!(limit.retry_after_secs(0), 10);
        assert_eq!(limit.retry_after_secs(3_999), 7);
        assert_eq!(limit.retry_after_secs(9_999), 1);
        assert_eq!(limit.retry_after_secs(10_000), 10);
        let refusal = limit.refusal(12_500);
        assert_eq!((refusal.status, refusal.code), (429, "rate_limited"));
        assert!(refusal.message.contains("retry after 8 s"), "{refusal}");
    }

    #[test]
    fn the_period_must_be_one_the_binding_offers() {
        assert_eq!(RateLimit::from_var(None), Ok(RateLimit { period_secs: 10 }));
        assert_eq!(
            RateLimit::from_var(Some("60")),
            Ok(RateLimit { period_secs: 60 })
        );
        assert!(RateLimit::from_var(Some("30")).is_err());
        assert!(RateLimit::from_var(Some("0")).is_err());
    }

    #[test]
    fn clients_are_keyed_by_their_ip() {
        assert_eq!(client_key(Some(" 2001:DB8::1 ")), "2001:db8::1");
        assert_eq!(client_key(Some("203.0.113.7")), "203.0.113.7");
        assert_eq!(client_key(Some("")), UNKNOWN_CLIENT);
        assert_eq!(client_key(None), UNKNOWN_CLIENT);
    }

    #[test]
    fn no_origin_is_allowed_by_default() {
        let policy = CorsPolicy::from_var(None).expect("empty policy");
        assert_eq!(
            policy.decide(Some("https://evil.example")),
            CorsDecision::None
        );
        let refusal = policy
            .preflight(Some("https://evil.example"), Some("POST"))
            .expect_err("refused");
        assert_eq!((refusal.status, refusal.code), (403, "cors_origin_refused"));
    }

    #[test]
    fn listed_origins_get_the_dashboards_methods_only() {
        let policy = CorsPolicy::from_var(Some("http://127.0.0.1:8787, https://ops.example.com"))
            .expect("valid list");
        assert_eq!(policy.origins().len(), 2);
        assert_eq!(
            policy.decide(Some("https://ops.example.com")),
            CorsDecision::Allow("https://ops.example.com".to_owned())
        );
        assert_eq!(policy.decide(None), CorsDecision::None);
        assert_eq!(
            policy.decide(Some("https://ops.example.com.evil")),
            CorsDecision::None
        );
        assert_eq!(
            policy.preflight(Some("http://127.0.0.1:8787"), Some("POST")),
            Ok("http://127.0.0.1:8787".to_owned())
        );
        let put = policy
            .preflight(Some("http://127.0.0.1:8787"), Some("PUT"))
            .expect_err("PUT refused");
        assert_eq!((put.status, put.code), (403, "cors_method_refused"));
        let bare = policy.preflight(None, Some("GET")).expect_err("no origin");
        assert_eq!(bare.status, 405);
        let no_method = policy
            .preflight(Some("http://127.0.0.1:8787"), None)
            .expect_err("no method");
        assert_eq!(no_method.status, 400);
    }

    #[test]
    fn malformed_origin_lists_are_refused() {
        for bad in [
            "*",
            "ops.example.com",
            "https://ops.example.com/path",
            "https://",
        ] {
            assert!(CorsPolicy::from_var(Some(bad)).is_err(), "{bad}");
        }
        let many = vec!["https://a.example"; CORS_ORIGINS_MAX + 1].join(",");
        assert!(CorsPolicy::from_var(Some(&many)).is_err());
    }
}
