//! The crate's single error type. The binding layer (`py/`) maps each variant to one capfast Python exception.

use std::fmt;

/// What went wrong while reading a CSV source. Kept separate so callers can match on the kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CsvErrorKind {
    MissingHeader,
    DuplicateColumn,
    UnknownColumn,
    RaggedRow,
    InvalidUtf8,
    Quote,
    LineEnding,
    TooLarge,
    ByteOrderMark,
}

impl fmt::Display for CsvErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CsvErrorKind::MissingHeader => "missing header",
            CsvErrorKind::DuplicateColumn => "duplicate column name",
            CsvErrorKind::UnknownColumn => "unknown column",
            CsvErrorKind::RaggedRow => "ragged row",
            CsvErrorKind::InvalidUtf8 => "invalid UTF-8",
            CsvErrorKind::Quote => "malformed quoting",
            CsvErrorKind::LineEnding => "malformed line ending",
            CsvErrorKind::TooLarge => "too large",
            CsvErrorKind::ByteOrderMark => "byte order mark",
        })
    }
}

/// Which rule a CAP package broke; each kind maps to its own Python exception class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageErrorKind {
    ZipFormat,
    UnsafePath,
    DuplicateEntry,
    InvalidHash,
    MissingEntry,
    BlobMismatch,
    DecompressionBomb,
}

/// Which rule a CapToken broke while being read or checked by the native core (`crate::token`); each kind maps to
/// its own Python exception class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenErrorKind {
    /// Not the token wire format: malformed or truncated JSON, non-canonical text, duplicate or unknown field, a
    /// field value outside its grammar.
    Format,
    /// Larger than the size cap (checked before parsing).
    TooLarge,
    /// The issuer is not among the pinned issuer keys/wallets.
    UntrustedIssuer,
    /// The signature does not verify under the issuer's pinned key.
    Signature,
}

impl TokenErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenErrorKind::Format => "format",
            TokenErrorKind::TooLarge => "too_large",
            TokenErrorKind::UntrustedIssuer => "untrusted_issuer",
            TokenErrorKind::Signature => "signature",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A caller passed a value outside the function's contract (wrong length, unknown hash name, index out of range).
    #[error("{0}")]
    InvalidArgument(String),
    /// A CSV source violates the accepted dialect. `line` is 1-based (the header is line 1).
    #[error("line {line}: {kind}: {message}")]
    Csv {
        line: u64,
        kind: CsvErrorKind,
        message: String,
    },
    /// A proof or compact range is malformed (wrong length, inconsistent sizes).
    #[error("{0}")]
    Proof(String),
    /// A CAP package (ZIP container, blob, index data) violates the format or a safety cap.
    #[error("{message}")]
    Package { kind: PackageErrorKind, message: String },
    /// A wallet address or key that is malformed (bad hex, wrong EIP-55 checksum).
    #[error("{0}")]
    Wallet(String),
    /// A CapToken that cannot be accepted (see [`TokenErrorKind`]).
    #[error("{message}")]
    Token { kind: TokenErrorKind, message: String },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidArgument(msg.into())
    }
    pub fn package(kind: PackageErrorKind, message: impl Into<String>) -> Self {
        Error::Package {
            kind,
            message: message.into(),
        }
    }
    pub fn wallet(message: impl Into<String>) -> Self {
        Error::Wallet(message.into())
    }
    pub fn token(kind: TokenErrorKind, message: impl Into<String>) -> Self {
        Error::Token {
            kind,
            message: message.into(),
        }
    }
    pub fn csv(line: u64, kind: CsvErrorKind, message: impl Into<String>) -> Self {
        Error::Csv {
            line,
            kind,
            message: message.into(),
        }
    }
}
