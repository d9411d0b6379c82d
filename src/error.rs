//! What a business rule can refuse or fail with, in the rules' own terms.
//! The HTTP layer maps each case to a status and a problem document in one
//! place (`http::error`); the rules never know about status codes.

use crate::domain::FieldError;
use crate::store::{StoreError, WriteFailure};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input broke field rules; each entry names the field.
    #[error("validation failed")]
    Invalid(Vec<FieldError>),
    /// The caller is not signed in, or the credentials are wrong.
    #[error("{0}")]
    Unauthenticated(String),
    /// Signed in, but this is not theirs to do.
    #[error("{0}")]
    Forbidden(String),
    /// No such record visible to the caller.
    #[error("{0}")]
    NotFound(String),
    /// The record's current state forbids the change.
    #[error("{0}")]
    Conflict(String),
    /// The write was made from an older version of the record than the one
    /// stored (`If-Match`): reload, then change.
    #[error("{0}")]
    Stale(String),
    /// The record is locked until someone with more rights settles it (an
    /// OTP after too many wrong tries).
    #[error("{0}")]
    Locked(String),
    /// A limit on how often was reached; the caller may retry later.
    #[error("too many attempts; try again in {retry_after_secs} s")]
    TooMany { retry_after_secs: u64 },
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        Error::Internal(e.into())
    }
}

macro_rules! via_store {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self { Error::Store(StoreError::from(e)) }
        }
    )*};
}
via_store!(
    redb::StorageError,
    redb::TableError,
    redb::TransactionError,
    redb::CommitError
);

impl From<FieldError> for Error {
    fn from(e: FieldError) -> Self {
        Error::Invalid(vec![e])
    }
}

impl WriteFailure for Error {
    fn is_storage(&self) -> bool {
        matches!(self, Error::Store(_) | Error::Internal(_))
    }
    fn from_store(err: StoreError) -> Self {
        Error::Store(err)
    }
}
