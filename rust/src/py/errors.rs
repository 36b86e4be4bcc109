//! Maps the crate's single `Error` enum to capfast's Python exceptions (defined in `capfast/errors.py`).

use crate::error::Error;
use pyo3::exceptions::{
    PyFileExistsError, PyFileNotFoundError, PyIsADirectoryError, PyNotADirectoryError, PyOSError, PyPermissionError,
};
use pyo3::PyErr;
use std::io::ErrorKind;
use std::path::Path;

pyo3::import_exception!(capfast.errors, InvalidArgumentError);
pyo3::import_exception!(capfast.errors, CsvFormatError);
pyo3::import_exception!(capfast.errors, ProofError);
pyo3::import_exception!(capfast.errors, ZipFormatError);
pyo3::import_exception!(capfast.errors, UnsafePathError);
pyo3::import_exception!(capfast.errors, DuplicateEntryError);
pyo3::import_exception!(capfast.errors, InvalidHashError);
pyo3::import_exception!(capfast.errors, MissingEntryError);
pyo3::import_exception!(capfast.errors, BlobMismatchError);
pyo3::import_exception!(capfast.errors, DecompressionBombError);
pyo3::import_exception!(capfast.errors, WalletError);
pyo3::import_exception!(capfast.errors, TokenFormatError);
pyo3::import_exception!(capfast.errors, TokenTooLargeError);
pyo3::import_exception!(capfast.errors, UntrustedIssuerError);
pyo3::import_exception!(capfast.errors, TokenSignatureError);

impl From<Error> for PyErr {
    fn from(err: Error) -> PyErr {
        match err {
            Error::InvalidArgument(msg) => InvalidArgumentError::new_err(msg),
            Error::Csv { line, kind, message } => CsvFormatError::new_err((message, line, kind.to_string())),
            Error::Proof(msg) => ProofError::new_err(msg),
            Error::Package { kind, message } => {
                use crate::error::PackageErrorKind as K;
                match kind {
                    K::ZipFormat => ZipFormatError::new_err(message),
                    K::UnsafePath => UnsafePathError::new_err(message),
                    K::DuplicateEntry => DuplicateEntryError::new_err(message),
                    K::InvalidHash => InvalidHashError::new_err(message),
                    K::MissingEntry => MissingEntryError::new_err(message),
                    K::BlobMismatch => BlobMismatchError::new_err(message),
                    K::DecompressionBomb => DecompressionBombError::new_err(message),
                }
            }
            Error::Wallet(msg) => WalletError::new_err(msg),
            Error::Token { kind, message } => {
                use crate::error::TokenErrorKind as T;
                match kind {
                    T::Format => TokenFormatError::new_err(message),
                    T::TooLarge => TokenTooLargeError::new_err(message),
                    T::UntrustedIssuer => UntrustedIssuerError::new_err(message),
                    T::Signature => TokenSignatureError::new_err(message),
                }
            }
            Error::Io(e) => os_error(&e, None),
        }
    }
}

/// The Python `OSError` for an I/O error, as the twin's `open()` would raise it: with the OS error number (so Python
/// picks the subclass, e.g. `FileNotFoundError` for ENOENT), its `strerror` and the file name when known. An error
/// without an OS error number maps its kind onto the matching subclass.
pub(crate) fn os_error(e: &std::io::Error, path: Option<&Path>) -> PyErr {
    let filename = path.map(|p| p.to_string_lossy().into_owned());
    if let Some(code) = e.raw_os_error() {
        // Rust's message is "<strerror> (os error N)"; Python's strerror is the part before that suffix.
        let text = std::io::Error::from_raw_os_error(code).to_string();
        let strerror = text
            .strip_suffix(&format!(" (os error {code})"))
            .unwrap_or(&text)
            .to_owned();
        return match filename {
            Some(f) => PyOSError::new_err((code, strerror, f)),
            None => PyOSError::new_err((code, strerror)),
        };
    }
    let msg = match &filename {
        Some(f) => format!("{f}: {e}"),
        None => e.to_string(),
    };
    match e.kind() {
        ErrorKind::NotFound => PyFileNotFoundError::new_err(msg),
        ErrorKind::PermissionDenied => PyPermissionError::new_err(msg),
        ErrorKind::AlreadyExists => PyFileExistsError::new_err(msg),
        ErrorKind::IsADirectory => PyIsADirectoryError::new_err(msg),
        ErrorKind::NotADirectory => PyNotADirectoryError::new_err(msg),
        _ => PyOSError::new_err(msg),
    }
}
