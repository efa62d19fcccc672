//! The front door's gate: the per-client rate limit and CORS, as `ledger::api::access` rules
//! them. Every public request passes here before it is routed.

use ledger::api::access::{
    CORS_ALLOWED_HEADERS, CORS_ALLOWED_METHODS, CORS_EXPOSED_HEADERS, CORS_MAX_AGE_SECS,
    CorsDecision, CorsPolicy, RateLimit, client_key,
};
use ledger::api::{ApiError, ErrorAnswer, Format};
use worker::{Env, Request, Response};
use worker_shell::{header, misconfigured};

/// The rate-limiting binding (`[[ratelimits]]` in wrangler.toml).
const RATE_LIMITER_BINDING: &str = "RATE_LIMITER";

/// The gate's settings, read from the Worker's variables.
pub(crate) struct Gate {
    limit: RateLimit,
    cors: CorsPolicy,
}

/// A request the gate turned away: the error and, when rate limited, `Retry-After`.
pub(crate) struct Turned {
    error: ErrorAnswer,
    retry_after_secs: Option<u64>,
}

impl From<ErrorAnswer> for Turned {
    fn from(error: ErrorAnswer) -> Self {
        Self {
            error,
            retry_after_secs: None,
        }
    }
}

impl From<ApiError> for Turned {
    fn from(error: ApiError) -> Self {
        Self {
            error: error.into(),
            retry_after_secs: None,
        }
    }
}

impl Gate {
    /// Reads `RATE_LIMIT_PERIOD_SECS` and `CORS_ORIGINS`.
    pub(crate) fn from_env(env: &Env) -> Result<Self, ErrorAnswer> {
        let var = |name: &str| env.var(name).ok().map(|value| value.to_string());
        let limit =
            RateLimit::from_var(var("RATE_LIMIT_PERIOD_SECS").as_deref()).map_err(misconfigured)?;
        let cors = CorsPolicy::from_var(var("CORS_ORIGINS").as_deref()).map_err(misconfigured)?;
        Ok(Self { limit, cors })
    }

    /// Counts the request against its client's share: 429 with `Retry-After` when over it.
    pub(crate) async fn admit(&self, env: &Env, request: &Request) -> Result<(), Turned> {
        let limiter = env
            .rate_limiter(RATE_LIMITER_BINDING)
            .map_err(|error| misconfigured(format!("{RATE_LIMITER_BINDING}: {error}")))?;
        let key = client_key(header(request, "cf-connecting-ip").as_deref());
        let outcome = limiter
            .limit(key)
            .await
            .map_err(|error| misconfigured(format!("{RATE_LIMITER_BINDING}: {error}")))?;
        if outcome.success {
            return Ok(());
        }
        let now_ms = worker_shell::now_ms();
        Err(Turned {
            error: self.limit.refusal(now_ms).into(),
            retry_after_secs: Some(self.limit.retry_after_secs(now_ms)),
        })
    }

    /// Answers a CORS preflight (`OPTIONS`): 204 with the allowed methods and headers for a
    /// listed origin, 403 for any other.
    pub(crate) fn preflight(&self, request: &Request) -> Result<Response, ErrorAnswer> {
        let origin = self.cors.preflight(
            header(request, "origin").as_deref(),
            header(request, "access-control-request-method").as_deref(),
        )?;
        let answer = || -> worker::Result<Response> {
            let mut response = Response::empty()?.with_status(204);
            let headers = response.headers_mut();
            headers.set("access-control-allow-origin", &origin)?;
            headers.set("access-control-allow-methods", CORS_ALLOWED_METHODS)?;
            headers.set("access-control-allow-headers", CORS_ALLOWED_HEADERS)?;
            headers.set("access-control-max-age", &CORS_MAX_AGE_SECS.to_string())?;
            headers.set("vary", "origin")?;
            Ok(response)
        };
        answer().map_err(|error| worker_shell::internal(error).into())
    }

    /// Adds the CORS headers an answer to a listed origin carries; `Vary: Origin` on every
    /// answer, since whether it carries them depends on the origin.
    pub(crate) fn tag(&self, request_origin: Option<&str>, response: &mut Response) {
        let headers = response.headers_mut();
        // Setting a header on a response the Worker built cannot fail.
        let _ = headers.set("vary", "origin");
        if let CorsDecision::Allow(origin) = self.cors.decide(request_origin) {
            let _ = headers.set("access-control-allow-origin", &origin);
            let _ = headers.set("access-control-expose-headers", CORS_EXPOSED_HEADERS);
        }
    }
}

impl Turned {
    /// The error answer, with `Retry-After` when rate limited.
    pub(crate) fn answer(self, format: Format) -> worker::Result<Response> {
        let mut response = worker_shell::error_answer(format, self.error)?;
        if let Some(seconds) = self.retry_after_secs {
            response
                .headers_mut()
                .set("retry-after", &seconds.to_string())?;
        }
        Ok(response)
    }
}
