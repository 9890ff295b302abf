//! Go's text forms of values, in one place: how sops (written in Go) spells numbers, booleans
//! and times inside ciphertexts, in the MAC, in its stores and in its metadata. Everything above
//! the tree that must write or read a value as sops does goes through here.

mod float;
mod value;

pub use float::{float_f, float_g, float_json, float_val_to_string};
pub use value::{
    canonical_bytes, display_text, display_text_and_canonical, format_go_time, formatted_bytes,
    go_time_canonical, parse_go_float, parse_typed, parse_typed_taking, plaintext_bytes,
    plaintext_bytes_from, plaintext_of, Plaintext,
};

use crate::tree::Scalar;

/// sops's `ValToString` of a scalar (`None` for null): how a value reads as text in an
/// environment variable or a flat metadata entry.
pub fn scalar_text(s: &Scalar) -> Option<String> {
    Some(match s {
        Scalar::Null => return None,
        Scalar::Bool(b) => b.to_string(),
        Scalar::Int(i) => i.to_string(),
        Scalar::Float(f) => float_val_to_string(*f),
        Scalar::Str(s) | Scalar::Time(s) | Scalar::Comment(s) => s.to_string(),
        Scalar::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
    })
}
