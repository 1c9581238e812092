//! The one place errors become HTTP: `{"detail": "...", "code": "DANGO-..."}` plus any
//! extra fields, for service errors, poem-openapi's own parse/validation failures and
//! routing errors alike. 5xx answers never carry internals.

use poem::http::{HeaderValue, StatusCode};
use poem::{IntoResponse, Response};
use poem_openapi::registry::{MetaResponses, Registry};
use poem_openapi::types::Type;
use poem_openapi::{ApiResponse, Object};

use crate::error::{Error, ErrorKind};

/// The body of every error answer. Some errors add one field that tells more.
#[derive(Object)]
pub struct ErrorBody {
    /// What went wrong, for people.
    pub detail: String,
    /// A stable machine-readable code such as `DANGO-S001`.
    pub code: String,
    /// The run already in progress (409 when a sync or transform of the same sources runs).
    pub run_id: Option<String>,
    /// Seconds until a locked account can try again (423).
    pub remaining_seconds: Option<u64>,
    /// Why a password was refused, one line each.
    pub issues: Option<Vec<String>>,
    /// Where the SQL of a query stops parsing (1-based line and column).
    pub line: Option<u64>,
    pub column: Option<u64>,
}

/// A JSON error response with the given status, code and message.
pub fn error_response(
    status: StatusCode,
    code: &str,
    detail: &str,
    extra: Option<&serde_json::Map<String, serde_json::Value>>,
) -> Response {
    let mut body = serde_json::Map::new();
    body.insert("detail".into(), detail.into());
    body.insert("code".into(), code.into());
    if let Some(extra) = extra {
        for (k, v) in extra {
            body.insert(k.clone(), v.clone());
        }
    }
    Response::builder()
        .status(status)
        .content_type("application/json")
        .body(serde_json::Value::Object(body).to_string())
}

impl Error {
    pub fn to_response(&self) -> Response {
        if self.kind == ErrorKind::Internal {
            tracing::error!("internal error: {self:?}");
        }
        let status =
            StatusCode::from_u16(self.kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = error_response(status, self.code, &self.message, self.extra.as_ref());
        if let Some(seconds) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert("Retry-After", value);
        }
        response
    }
}

impl poem::error::ResponseError for Error {
    fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn as_response(&self) -> Response {
        self.to_response()
    }
}

/// What the guard answers when it refuses a request.
impl From<Error> for Box<Response> {
    fn from(err: Error) -> Self {
        Box::new(err.to_response())
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        self.to_response()
    }
}

/// Handlers declare no error responses of their own: `api::spec` documents, per
/// operation, exactly the statuses it can answer.
impl ApiResponse for Error {
    fn meta() -> MetaResponses {
        MetaResponses { responses: vec![] }
    }

    fn register(registry: &mut Registry) {
        ErrorBody::register(registry);
    }
}

/// Turns any error that reached the top of the stack into the JSON shape.
pub fn poem_error_to_response(err: poem::Error) -> Response {
    if let Some(ours) = err.downcast_ref::<Error>() {
        return ours.to_response();
    }
    let (kind, detail) = match err.status().as_u16() {
        404 => (ErrorKind::NotFound, "Not found".to_string()),
        405 => (
            ErrorKind::MethodNotAllowed,
            "Method not allowed".to_string(),
        ),
        413 => (
            ErrorKind::PayloadTooLarge,
            "Request body too large".to_string(),
        ),
        415 => (
            ErrorKind::UnsupportedMediaType,
            format!("Unsupported content type: {err}"),
        ),
        s if s >= 500 => {
            tracing::error!("unhandled error: {err}");
            let detail = "An internal error occurred.";
            return error_response(err.status(), crate::error::code::INTERNAL, detail, None);
        }
        401 => (
            ErrorKind::Unauthenticated,
            "Authentication required".to_string(),
        ),
        _ => (ErrorKind::BadRequest, err.to_string()),
    };
    Error::new(kind, detail).to_response()
}
