//! capfast's native core. Everything outside `py/` is plain Rust with no Python dependency and is tested with
//! `cargo test`; `py/` is the thin PyO3 binding layer, compiled only with the `python` feature (maturin sets it).

pub mod cap;
pub mod commit;
pub mod delta;
pub mod ed25519;
pub mod error;
pub mod hash;
pub mod hex;
pub mod merkle;
pub mod token;
pub mod wallet;

#[cfg(feature = "python")]
mod py;
