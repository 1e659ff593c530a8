//! The admin token: what guards changes of money or state that are not a
//! customer's own order (billing-service's `PUT /api/accounts/{customerId}`,
//! and any admin endpoint to come). Such a route takes [`Admin`] as its first
//! argument, so the check runs before its body or path is looked at:
//!
//! - no token configured (`ADMIN_TOKEN` / `ADMIN_TOKEN_FILE`): 403, the
//!   endpoint is disabled;
//! - `Authorization: Bearer <token>` missing or wrong: 401 with
//!   `WWW-Authenticate: Bearer`;
//! - the right token: the route runs.
//!
//! The token itself is never kept here, logged or answered: only its digest.

use crate::http::ApiError;
use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use contract::secret::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// Refusals are counted by `http_requests_total{status="401"}`; someone
/// guessing tokens gets one line per interval, not one per guess.
static REFUSED: crate::throttle::LogThrottle =
    crate::throttle::LogThrottle::new("admin_unauthorized");

/// The configured admin token, as app data: the SHA-256 digest of the
/// token, or `None` when none is configured and admin endpoints are disabled.
pub struct AdminGuard {
    digest: Option<[u8; 32]>,
}

/// Prints whether a token is configured, never its digest (a short token
/// could be found from it).
impl std::fmt::Debug for AdminGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = if self.enabled() {
            "enabled"
        } else {
            "disabled"
        };
        f.debug_tuple("AdminGuard").field(&state).finish()
    }
}

impl AdminGuard {
    pub fn new(token: Option<&SecretString>) -> Self {
        Self {
            digest: token.map(|t| digest(t.expose_secret())),
        }
    }

    /// Whether admin endpoints answer at all (a token is configured).
    pub fn enabled(&self) -> bool {
        self.digest.is_some()
    }

    /// Lets the request through only with `Authorization: Bearer <token>`
    /// carrying the configured token.
    fn check(&self, request: &HttpRequest) -> Result<Admin, ApiError> {
        let Some(expected) = &self.digest else {
            return Err(ApiError::AdminDisabled);
        };
        let Some(presented) = bearer_token(request) else {
            return Err(refuse(
                request,
                "send the admin token as Authorization: Bearer <token>",
            ));
        };
        // Constant time: both sides are SHA-256 digests, 32 bytes whatever the
        // token's length, and every byte is compared, so the time taken tells
        // nothing about how much of a guess was right. (Even an early exit
        // would only reveal a prefix of the guess's digest, which says
        // nothing about the token; the fold costs nothing and needs no crate.)
        let difference = digest(presented)
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if difference != 0 {
            return Err(refuse(request, "wrong admin token"));
        }
        Ok(Admin(()))
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The token of an `Authorization: Bearer <token>` header (the scheme's case
/// does not matter, as RFC 7235 says), or `None` when there is no such header.
fn bearer_token(request: &HttpRequest) -> Option<&str> {
    let value = request
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// 401, with one warning line per interval naming the route (a template,
/// never the path a client chose) and what was wrong, never the token.
fn refuse(request: &HttpRequest, message: &'static str) -> ApiError {
    let route = request
        .match_pattern()
        .unwrap_or_else(|| "unmatched".into());
    REFUSED.warn(format_args!(
        "admin request refused ({message}): {} {route}",
        crate::metrics::method_label(request.method())
    ));
    ApiError::Unauthorized(message)
}

/// Proof that the request carries the admin token: take it as a route's
/// first argument. Answers 403 or 401 (see the module) otherwise.
#[derive(Debug)]
pub struct Admin(());

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        // No guard registered is a service built without one: disabled.
        std::future::ready(match request.app_data::<web::Data<AdminGuard>>() {
            Some(guard) => guard.check(request),
            None => Err(ApiError::AdminDisabled),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    const TOKEN: &str = "0123456789abcdef-admin";

    fn check(guard: &AdminGuard, authorization: Option<&str>) -> Result<Admin, ApiError> {
        let mut request = TestRequest::put().uri("/api/accounts/c-1");
        if let Some(value) = authorization {
            request = request.insert_header(("authorization", value));
        }
        guard.check(&request.to_http_request())
    }

    #[test]
    fn only_the_configured_bearer_token_passes() {
        let guard = AdminGuard::new(Some(&TOKEN.into()));
        assert!(check(&guard, Some(&format!("Bearer {TOKEN}"))).is_ok());
        assert!(check(&guard, Some(&format!("bearer  {TOKEN} "))).is_ok());
        for refused in [
            None,
            Some("Bearer"),
            Some("Bearer "),
            Some("Bearer wrong"),
            Some(&format!("Bearer {TOKEN}x")),
            Some(&format!("Basic {TOKEN}")),
            Some(TOKEN),
        ] {
            let error = check(&guard, refused).unwrap_err();
            assert!(matches!(error, ApiError::Unauthorized(_)), "{refused:?}");
            assert!(!error.to_string().contains(TOKEN), "{error}");
        }
    }

    #[test]
    fn without_a_configured_token_every_request_is_refused_as_disabled() {
        let guard = AdminGuard::new(None);
        for authorization in [None, Some("Bearer anything")] {
            let error = check(&guard, authorization).unwrap_err();
            assert!(matches!(error, ApiError::AdminDisabled));
        }
    }

    #[test]
    fn debug_says_whether_a_token_is_configured_and_nothing_of_it() {
        let guard = AdminGuard::new(Some(&TOKEN.into()));
        let printed = format!("{guard:?}");
        assert_eq!(printed, r#"AdminGuard("enabled")"#);
        assert_eq!(
            format!("{:?}", AdminGuard::new(None)),
            r#"AdminGuard("disabled")"#
        );
    }
}
