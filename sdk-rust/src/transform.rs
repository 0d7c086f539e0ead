//! The transformation kind (spec §10): on-demand feature views.

use crate::batch::{Batch, BatchBuilder};
use crate::json;
use crate::status::Error;

/// Kind name in the manifest.
pub const KIND: &str = "transformation";

/// An on-demand feature view. `transform` reads the input batch (one column per declared
/// source field) and fills `out` with the declared output columns, one row per input row.
/// It must be deterministic and gets no capabilities.
pub trait Transformation: Default {
    /// Receives the plugin's configuration object once per instance.
    fn init(&mut self, _config: &json::Value) -> Result<(), Error> {
        Ok(())
    }

    /// Computes the outputs of `function` for every input row.
    fn transform(&mut self, function: &str, input: &Batch, out: &mut BatchBuilder) -> Result<(), Error>;
}
