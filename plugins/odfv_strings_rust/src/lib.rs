//! `driver_profile_text`: an on-demand feature view over strings and lists, to show (and
//! test) the Rust SDK's variable-width types.
//!
//! | output | type | value |
//! |---|---|---|
//! | `name_upper` | STRING | `name` upper-cased (Unicode rules, so `ß` becomes `SS`) |
//! | `tag_count` | INT64 | number of elements of `tags` |
//! | `tags_sorted` | STRING_LIST | `tags` sorted, duplicates removed |
//! | `amount_sum` | INT64 | sum of `amounts`; null when it overflows an i64 |
//!
//! A null input gives a null output in every output computed from it.

use larder_sdk::{Batch, BatchBuilder, Error, Transformation, Type};

#[derive(Default)]
pub struct ProfileText;

impl Transformation for ProfileText {
    fn transform(&mut self, _function: &str, input: &Batch, out: &mut BatchBuilder) -> Result<(), Error> {
        let rows = input.rows();
        let name = input.column("name")?;
        let tags = input.column("tags")?;
        let amounts = input.column("amounts")?;

        let col = out.column("name_upper", Type::String)?;
        for r in 0..rows {
            if name.is_null(r) {
                col.push_null();
            } else {
                col.push_str(&name.str(r)?.to_uppercase())?;
            }
        }
        let col = out.column("tag_count", Type::Int64)?;
        for r in 0..rows {
            if tags.is_null(r) {
                col.push_null();
            } else {
                col.push_i64(tags.str_list(r)?.len() as i64)?;
            }
        }
        let col = out.column("tags_sorted", Type::StringList)?;
        for r in 0..rows {
            if tags.is_null(r) {
                col.push_null();
            } else {
                let mut t = tags.str_list(r)?;
                t.sort_unstable();
                t.dedup();
                col.push_str_list(&t)?;
            }
        }
        let col = out.column("amount_sum", Type::Int64)?;
        for r in 0..rows {
            if amounts.is_null(r) {
                col.push_null();
                continue;
            }
            let sum = amounts.i64_list(r)?.iter().try_fold(0i64, |acc, &v| acc.checked_add(v));
            match sum {
                Some(s) => col.push_i64(s)?,
                None => col.push_null(),
            }
        }
        Ok(())
    }
}

larder_sdk::export_transformation!(ProfileText, id = "driver_profile_text", version = "0.1.0");

#[cfg(test)]
mod tests {
    use super::*;
    use larder_sdk::mock;

    const OUTPUTS: [(&str, Type); 4] = [
        ("name_upper", Type::String),
        ("tag_count", Type::Int64),
        ("tags_sorted", Type::StringList),
        ("amount_sum", Type::Int64),
    ];

    #[test]
    fn strings_and_lists() {
        let mut input = BatchBuilder::new();
        let n = input.column("name", Type::String).unwrap();
        n.push_str("straße").unwrap();
        n.push_null();
        let t = input.column("tags", Type::StringList).unwrap();
        t.push_str_list(&["b", "a", "b"]).unwrap();
        t.push_null();
        let a = input.column("amounts", Type::Int64List).unwrap();
        a.push_i64_list(&[1, 2, 3]).unwrap();
        a.push_i64_list(&[i64::MAX, 1]).unwrap();
        let out = mock::transform::<ProfileText>(&input, "transform", &OUTPUTS).unwrap();
        assert_eq!(out.column("name_upper").unwrap().str(0).unwrap(), "STRASSE");
        assert!(out.column("name_upper").unwrap().is_null(1));
        assert_eq!(out.column("tag_count").unwrap().i64(0).unwrap(), 3);
        assert_eq!(out.column("tags_sorted").unwrap().str_list(0).unwrap(), vec!["a", "b"]);
        assert!(out.column("tags_sorted").unwrap().is_null(1));
        assert_eq!(out.column("amount_sum").unwrap().i64(0).unwrap(), 6);
        assert!(out.column("amount_sum").unwrap().is_null(1), "overflow gives null");
    }
}
