//! Maps the crate's single `Error` enum to capfast's Python exceptions (defined in `capfast/errors.py`).

use crate::error::Error;
use pyo3::exceptions::PyOSError;
use pyo3::PyErr;

pyo3::import_exception!(capfast.errors, InvalidArgumentError);
pyo3::import_exception!(capfast.errors, CsvFormatError);
pyo3::import_exception!(capfast.errors, ProofError);

impl From<Error> for PyErr {
    fn from(err: Error) -> PyErr {
        match err {
            Error::InvalidArgument(msg) => InvalidArgumentError::new_err(msg),
            Error::Csv { line, kind, message } => CsvFormatError::new_err((message, line, kind.to_string())),
            Error::Proof(msg) => ProofError::new_err(msg),
            Error::Io(e) => PyOSError::new_err(e.to_string()),
        }
    }
}
