//! Maps the crate's single `Error` enum to capfast's Python exceptions (defined in `capfast/errors.py`).

use crate::error::Error;
use pyo3::exceptions::PyOSError;
use pyo3::PyErr;

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
            Error::Io(e) => PyOSError::new_err(e.to_string()),
        }
    }
}
