//! The service-layer error. Services return [`Result`]; the API maps an [`Error`] to
//! HTTP exactly once (`api::error`), as `{"detail", "code", ...extra}`.

use std::fmt;

pub mod code;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    BadRequest,
    Unauthenticated,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    LengthRequired,
    PayloadTooLarge,
    UnsupportedMediaType,
    Unprocessable,
    Locked,
    /// The work took longer than its limit and was stopped.
    Timeout,
    TooManyRequests,
    Upstream,
    Unavailable,
    Internal,
}

impl ErrorKind {
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::BadRequest => 400,
            ErrorKind::Unauthenticated => 401,
            ErrorKind::Forbidden => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::MethodNotAllowed => 405,
            ErrorKind::Conflict => 409,
            ErrorKind::LengthRequired => 411,
            ErrorKind::PayloadTooLarge => 413,
            ErrorKind::UnsupportedMediaType => 415,
            ErrorKind::Unprocessable => 422,
            ErrorKind::Timeout => 408,
            ErrorKind::Locked => 423,
            ErrorKind::TooManyRequests => 429,
            ErrorKind::Internal => 500,
            ErrorKind::Upstream => 502,
            ErrorKind::Unavailable => 503,
        }
    }

    fn default_code(self) -> &'static str {
        match self {
            ErrorKind::BadRequest => code::INVALID_REQUEST,
            ErrorKind::Unauthenticated => code::AUTHENTICATION_REQUIRED,
            ErrorKind::Forbidden => code::PERMISSION_DENIED,
            ErrorKind::NotFound => code::NOT_FOUND,
            ErrorKind::MethodNotAllowed => code::METHOD_NOT_ALLOWED,
            ErrorKind::Conflict => code::CONFLICT,
            ErrorKind::LengthRequired => code::LENGTH_REQUIRED,
            ErrorKind::PayloadTooLarge => code::BODY_TOO_LARGE,
            ErrorKind::UnsupportedMediaType => code::UNSUPPORTED_MEDIA_TYPE,
            ErrorKind::Unprocessable => code::UNPROCESSABLE,
            ErrorKind::Timeout => code::QUERY_TIMEOUT,
            ErrorKind::Locked => code::ACCOUNT_LOCKED,
            ErrorKind::TooManyRequests => code::RATE_LIMITED,
            ErrorKind::Upstream => code::UPSTREAM_FAILED,
            ErrorKind::Unavailable => code::UNAVAILABLE,
            ErrorKind::Internal => code::INTERNAL,
        }
    }
}

/// An error with a kind (its HTTP status), a stable code, a user-facing message and
/// optional extra JSON fields. Internal errors keep their cause for the log only.
pub struct Error {
    pub kind: ErrorKind,
    pub code: &'static str,
    pub message: String,
    pub extra: Option<serde_json::Map<String, serde_json::Value>>,
    /// Seconds a client should wait (429, 423).
    pub retry_after: Option<u64>,
    source: Option<anyhow::Error>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            code: kind.default_code(),
            message: message.into(),
            extra: None,
            retry_after: None,
            source: None,
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, message)
    }
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthenticated, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unprocessable, message)
    }
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::PayloadTooLarge, message)
    }
    pub fn upstream(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Upstream, message)
    }
    /// An unexpected failure: the client sees a generic message, the log sees the cause.
    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        let mut err = Self::new(ErrorKind::Internal, "An internal error occurred.");
        err.source = Some(cause.into());
        err
    }

    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = code;
        self
    }

    pub fn with_extra(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.extra
            .get_or_insert_with(Default::default)
            .insert(key.to_string(), value.into());
        self
    }

    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds.max(1));
        self
    }

    pub fn cause(&self) -> Option<&anyhow::Error> {
        self.source.as_ref()
    }

    /// The message with its cause, for records users read outside an HTTP answer (a
    /// failed sync's history): the cause of a warehouse failure is what they need to fix it.
    pub fn detailed_message(&self) -> String {
        match &self.source {
            Some(cause) => format!("{}: {cause:#}", self.message.trim_end_matches('.')),
            None => self.message.clone(),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.kind.status(), self.code, self.message)?;
        if let Some(source) = &self.source {
            write!(f, " ({source:#})")?;
        }
        Ok(())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Some(source) => write!(f, "{}: {source:#}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for Error {}

impl From<sea_orm::DbErr> for Error {
    fn from(err: sea_orm::DbErr) -> Self {
        Error::internal(err)
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        Error::internal(err)
    }
}

impl From<anyhow::Error> for Error {
    fn from(err: anyhow::Error) -> Self {
        Error::internal(err)
    }
}

impl From<tokio::task::JoinError> for Error {
    fn from(err: tokio::task::JoinError) -> Self {
        Error::internal(err)
    }
}
