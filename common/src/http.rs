//! HTTP conventions shared by the three APIs: every error is JSON naming what
//! was wrong, and no input produces a 5xx.
//!
//! Body: `{"error": "<code>", "message": "<sentence>", "fields": [{"field", "message"}]}`.

use crate::limits;
use actix_web::http::StatusCode;
use actix_web::{error::JsonPayloadError, web, HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;

/// Seconds a client is told to wait (`Retry-After`) when refused as overloaded.
pub const OVERLOAD_RETRY_AFTER_SECS: u64 = 1;

static DATABASE_UNAVAILABLE: crate::throttle::LogThrottle =
    crate::throttle::LogThrottle::new("database_unavailable");

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request cannot be read (malformed JSON, malformed id, bad query).
    #[error("{message}")]
    BadRequest {
        message: String,
        fields: Vec<FieldError>,
    },
    /// 401 with `WWW-Authenticate: Bearer`: the admin token is missing or
    /// wrong (see `common::admin`); the message never repeats a token.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// 403: an admin endpoint while no admin token is configured.
    #[error("this endpoint is disabled: no admin token is configured; set ADMIN_TOKEN or ADMIN_TOKEN_FILE to enable it")]
    AdminDisabled,
    /// 404
    #[error("{0}")]
    NotFound(String),
    /// 413
    #[error("request body larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
    /// 408: the body did not fully arrive within `HTTP_BODY_READ_TIMEOUT_MS`.
    #[error("the request body did not arrive in time")]
    RequestTimeout,
    /// 415
    #[error("content type must be application/json")]
    UnsupportedMediaType,
    /// 422: readable but invalid; `fields` names each problem.
    #[error("{message}")]
    Unprocessable {
        message: String,
        fields: Vec<FieldError>,
    },
    /// 503 with `Retry-After`: over capacity, refused before any work.
    #[error("the service is over capacity; retry after {OVERLOAD_RETRY_AFTER_SECS} s")]
    Overloaded,
    /// 503: a dependency (the database) is unavailable; worth retrying later.
    #[error("{0}")]
    Unavailable(String),
    /// 500, for failures that are ours, never the client's (logged with their cause).
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn bad_field(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        ApiError::BadRequest {
            message: format!("{field} {message}"),
            fields: vec![FieldError::new(field, message)],
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { .. } => "bad_request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::AdminDisabled => "admin_disabled",
            ApiError::NotFound(_) => "not_found",
            ApiError::TooLarge => "payload_too_large",
            ApiError::RequestTimeout => "request_timeout",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::Unprocessable { .. } => "validation_failed",
            ApiError::Overloaded => "overloaded",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl From<sqlx::Error> for ApiError {
    /// An unavailable database is 503 (retry later), anything else 500.
    fn from(e: sqlx::Error) -> Self {
        match e {
            e if crate::db::is_unavailable(&e) || matches!(e, sqlx::Error::PoolClosed) => {
                // Counted by http_requests_total{status="503"}; one line per interval.
                DATABASE_UNAVAILABLE.warn(format_args!("database unavailable: {e}"));
                ApiError::Unavailable("the database is unavailable; try again shortly".into())
            }
            other => ApiError::Internal(other.into()),
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: String,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    fields: &'a [FieldError],
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::AdminDisabled => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Overloaded | ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(cause) = self {
            tracing::error!(error = ?cause, "request failed");
        }
        let fields = match self {
            ApiError::BadRequest { fields, .. } | ApiError::Unprocessable { fields, .. } => {
                fields.as_slice()
            }
            _ => &[],
        };
        let mut response = HttpResponse::build(self.status_code());
        match self {
            ApiError::Overloaded => {
                response.insert_header((
                    actix_web::http::header::RETRY_AFTER,
                    OVERLOAD_RETRY_AFTER_SECS.to_string(),
                ));
            }
            ApiError::Unauthorized(_) => {
                response.insert_header((actix_web::http::header::WWW_AUTHENTICATE, "Bearer"));
            }
            _ => {}
        }
        response.json(ErrorBody {
            error: self.code(),
            message: self.to_string(),
            fields,
        })
    }
}

/// JSON bodies: at most [`MAX_BODY_BYTES`], `application/json` required, and
/// each failure answered with the JSON error body.
pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(MAX_BODY_BYTES)
        .content_type_required(true)
        .error_handler(|err: JsonPayloadError, _req: &HttpRequest| {
            let api = match &err {
                JsonPayloadError::Overflow { .. }
                | JsonPayloadError::OverflowKnownLength { .. } => ApiError::TooLarge,
                JsonPayloadError::ContentType => ApiError::UnsupportedMediaType,
                other => ApiError::BadRequest {
                    message: format!("malformed JSON body: {other}"),
                    fields: vec![FieldError::new("body", "is not valid JSON")],
                },
            };
            api.into()
        })
}

/// Query strings that do not parse answer 400 with the JSON body too.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        ApiError::BadRequest {
            message: format!("invalid query string: {err}"),
            fields: vec![FieldError::new("query", err.to_string())],
        }
        .into()
    })
}

/// Parses a UUID path segment, answering 400 naming `field` when malformed.
pub fn parse_uuid(field: &str, raw: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(raw).map_err(|_| ApiError::bad_field(field, "must be a UUID"))
}

/// A customer id from a path segment or a query string, by the rule order
/// bodies follow too ([`limits::check_trimmed`] with [`limits::MAX_ID_CHARS`]):
/// 400 naming `field` when it is blank, too long or holds a NUL, which Postgres
/// would refuse with a 500.
pub fn customer_id_param(field: &str, raw: &str) -> Result<String, ApiError> {
    limits::check_trimmed(raw, limits::MAX_ID_CHARS)
        .map(str::to_owned)
        .map_err(|message| ApiError::bad_field(field, message))
}

/// An optional query parameter, checked by `parse` (which names the field)
/// when present.
pub fn optional<T>(
    raw: Option<&str>,
    parse: impl FnOnce(&str) -> Result<T, ApiError>,
) -> Result<Option<T>, ApiError> {
    raw.map(parse).transpose()
}

/// Page size from `?limit=`: 1 to 100, default 20.
pub fn page_limit(limit: Option<i64>) -> Result<i64, ApiError> {
    match limit {
        None => Ok(20),
        Some(n) if (1..=100).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::bad_field("limit", "must be between 1 and 100")),
    }
}

/// Wraps a JSON value with 404 when absent.
pub fn found<T>(value: Option<T>, what: &str) -> Result<T, ApiError> {
    value.ok_or_else(|| ApiError::NotFound(format!("{what} not found")))
}
