//! Feast quickstart's `transformed_conv_rate` on-demand feature view:
//! `conv_rate_plus_val1 = conv_rate + val_to_add`, `conv_rate_plus_val2 = conv_rate + val_to_add_2`.
//! A null input gives a null output for that row.

use larder_sdk::{Batch, BatchBuilder, Column, Error, Transformation, Type};

#[derive(Default)]
pub struct TransformedConvRate;

/// Reads a numeric column of any width as f64, so the ODFV accepts conv_rate as FLOAT or DOUBLE
/// and the request values as INT32 or INT64, as Feast's pandas arithmetic would.
fn number(c: &Column, row: usize) -> Result<Option<f64>, Error> {
    if c.is_null(row) {
        return Ok(None);
    }
    Ok(Some(match c.ty() {
        Type::Float => c.f32(row)? as f64,
        Type::Double => c.f64(row)?,
        Type::Int32 => c.i32(row)? as f64,
        Type::Int64 => c.i64(row)? as f64,
        t => return Err(Error::bad_argument(format!("column {:?} is {}, want a number", c.name(), t.name()))),
    }))
}

impl Transformation for TransformedConvRate {
    fn transform(&mut self, _function: &str, input: &Batch, out: &mut BatchBuilder) -> Result<(), Error> {
        let conv = input.column("conv_rate")?;
        // One output column at a time: the builder is looked up once, not once per row.
        for (name, add) in [("conv_rate_plus_val1", "val_to_add"), ("conv_rate_plus_val2", "val_to_add_2")] {
            let add = input.column(add)?;
            let col = out.column(name, Type::Double)?;
            for row in 0..input.rows() {
                match (number(&conv, row)?, number(&add, row)?) {
                    (Some(c), Some(a)) => col.push_f64(c + a)?,
                    _ => col.push_null(),
                }
            }
        }
        Ok(())
    }
}

larder_sdk::export_transformation!(TransformedConvRate, id = "transformed_conv_rate", version = "0.1.0");

#[cfg(test)]
mod tests {
    use super::*;
    use larder_sdk::mock;

    #[test]
    fn adds_request_values_to_conv_rate() {
        let mut input = BatchBuilder::new();
        let conv = input.column("conv_rate", Type::Float).unwrap();
        conv.push_f32(0.5).unwrap();
        conv.push_f32(0.25).unwrap();
        conv.push_null();
        let a = input.column("val_to_add", Type::Int64).unwrap();
        a.push_i64(1).unwrap();
        a.push_null();
        a.push_i64(3).unwrap();
        let b = input.column("val_to_add_2", Type::Int64).unwrap();
        for v in [10, 20, 30] {
            b.push_i64(v).unwrap();
        }
        let outputs = [("conv_rate_plus_val1", Type::Double), ("conv_rate_plus_val2", Type::Double)];
        let out = mock::transform::<TransformedConvRate>(&input, "transform", &outputs).unwrap();
        let v1 = out.column("conv_rate_plus_val1").unwrap();
        let v2 = out.column("conv_rate_plus_val2").unwrap();
        assert_eq!(v1.f64(0).unwrap(), 1.5);
        assert!(v1.is_null(1));
        assert!(v1.is_null(2));
        assert_eq!(v2.f64(1).unwrap(), 20.25);
        assert!(v2.is_null(2));
    }

    #[test]
    fn rejects_a_string_conv_rate() {
        let mut input = BatchBuilder::new();
        input.column("conv_rate", Type::String).unwrap().push_str("x").unwrap();
        input.column("val_to_add", Type::Int64).unwrap().push_i64(1).unwrap();
        input.column("val_to_add_2", Type::Int64).unwrap().push_i64(1).unwrap();
        let err = mock::transform::<TransformedConvRate>(&input, "transform", &[("conv_rate_plus_val1", Type::Double), ("conv_rate_plus_val2", Type::Double)]).unwrap_err();
        assert!(err.message.contains("conv_rate"), "{}", err);
    }
}
