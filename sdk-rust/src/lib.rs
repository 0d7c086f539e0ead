//! Rust SDK for Larder plugins.
//!
//! A Larder plugin is a WebAssembly module that speaks ABI v1 (`abi/spec/v1/README.md` in the
//! Larder repository). This crate hides the ABI: you implement a trait in safe Rust and export it
//! with one macro; the macro generates the version marker, the allocator, `describe`, `init`,
//! `last_error`, `result` and the kind's exports.
//!
//! Build plugins for `wasm32-unknown-unknown` (no WASI imports at all). On any other target the
//! same code runs natively against [`mock`], so `cargo test` exercises plugin logic without Wasm.
//!
//! # A transformation (on-demand feature view)
//!
//! ```
//! use larder_sdk::{Batch, BatchBuilder, Error, Transformation, Type};
//!
//! #[derive(Default)]
//! struct AddOne;
//!
//! impl Transformation for AddOne {
//!     fn transform(&mut self, _function: &str, input: &Batch, out: &mut BatchBuilder) -> Result<(), Error> {
//!         let x = input.column("x")?;
//!         let y = out.column("y", Type::Int64)?;
//!         for row in 0..input.rows() {
//!             if x.is_null(row) { y.push_null() } else { y.push_i64(x.i64(row)? + 1)? }
//!         }
//!         Ok(())
//!     }
//! }
//! larder_sdk::export_transformation!(AddOne, id = "add_one", version = "0.1.0");
//!
//! // Natively, the mock host drives the very same exports:
//! let mut input = BatchBuilder::new();
//! let x = input.column("x", Type::Int64).unwrap();
//! x.push_i64(41).unwrap();
//! x.push_null();
//! let result = larder_sdk::mock::transform::<AddOne>(&input, "transform", &[("y", Type::Int64)]).unwrap();
//! let y = result.column("y").unwrap();
//! assert_eq!(y.i64(0).unwrap(), 42);
//! assert!(y.is_null(1));
//! ```

#[macro_use]
mod macros;
pub mod batch;
pub mod capability;
pub mod json;
pub mod mock;
pub mod murmur3;
pub mod online;
pub mod redis;
mod status;
pub mod transform;
mod types;

#[doc(hidden)]
pub mod __private;

pub use batch::{Batch, BatchBuilder, Column, ColumnBuilder};
pub use capability::{log, now_unix_micros, Capability, LogLevel};
pub use online::{FeatureValue, OnlineStore, ReadOutput, ReadRequest, ReadView, Table, UpdateRequest, WriteRequest, WriteRow};
pub use status::{Error, Status};
pub use transform::Transformation;
pub use types::{FieldStatus, Type};

/// ABI version this SDK speaks.
pub const ABI_MAJOR: u32 = 1;
/// ABI minor version this SDK speaks.
pub const ABI_MINOR: u32 = 0;
/// SDK identification reported in the manifest.
pub const SDK: &str = concat!("sdk-rust/", env!("CARGO_PKG_VERSION"));
