//! `capfast.commit()`: committing to a table (CSV or rows) as an RFC 6962 Merkle tree of deterministic-CBOR row
//! maps, optionally salted per row. See `pipeline` for the engine, `csv` for the dialect, `cbor` for the leaf
//! encoding and `salt` for the salt derivation.

pub mod cbor;
pub mod csv;
pub mod pipeline;
pub mod salt;

pub use pipeline::{commit_bytes, commit_csv, Accumulator, EncodedRows, Input, Options, Output, ReadInput, SliceInput};
