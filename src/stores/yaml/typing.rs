//! Typing scalars as go-yaml and sops do: the resolved YAML type of a node (its tag, or the
//! plain scalar's form) turned into a tree [`Scalar`], with the errors sops gives.

use granit_parser::ScalarStyle;

use super::node::CoreTag;
use super::resolve::{parse_timestamp, resolve_plain, Resolved};
use crate::stores::StoreError;
use crate::tree::{secret, Scalar};
use crate::wipe::Wiped;

/// Go's name of a resolved type, as sops's errors print it.
fn type_name(r: &Resolved) -> &'static str {
    match r {
        Resolved::Null => "<nil>",
        Resolved::Bool(_) => "bool",
        Resolved::Int(_) => "int",
        Resolved::Uint(_) => "uint64",
        Resolved::Float(_) => "float64",
        Resolved::Time(_) => "time.Time",
        Resolved::Merge | Resolved::Str => "string",
    }
}

/// Type a scalar as go-yaml and sops do. Returns the scalar and its source spelling for
/// numbers, bools and times. `line` gives the scalar's line for an error (only looked up then).
pub(super) fn type_scalar(
    value: &str,
    style: ScalarStyle,
    tag: &CoreTag,
    line: impl Fn() -> usize,
) -> Result<(Scalar, Option<String>), StoreError> {
    let plain = style == ScalarStyle::Plain;
    let resolved = match tag.suffix() {
        None if plain && tag.is_none() => resolve_plain(value),
        None => Resolved::Str,
        Some(t) => match t {
            "str" | "merge" | "map" | "seq" => Resolved::Str,
            "binary" => {
                use base64::Engine;
                let clean: String = value.chars().filter(|c| !c.is_whitespace()).collect();
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(clean.as_bytes())
                    .map_err(|_| {
                        StoreError::at_line("!!binary value contains invalid base64 data", line())
                    })?;
                return Ok(match String::from_utf8(bytes) {
                    Ok(s) => (Scalar::Str(secret(s)), None),
                    Err(e) => (Scalar::Bytes(Wiped::new(e.into_bytes())), None),
                });
            }
            "timestamp" => match parse_timestamp(value) {
                Some(t) => Resolved::Time(t),
                None => resolve_plain(value),
            },
            other => {
                let r = resolve_plain(value);
                let ok = matches!(
                    (other, &r),
                    ("int", Resolved::Int(_) | Resolved::Uint(_))
                        | (
                            "float",
                            Resolved::Float(_) | Resolved::Int(_) | Resolved::Uint(_)
                        )
                        | ("bool", Resolved::Bool(_))
                        | ("null", Resolved::Null)
                );
                if !ok {
                    return Err(StoreError::at_line(
                        format!("cannot decode {} `{value}` as a !!{other}", type_name(&r)),
                        line(),
                    ));
                }
                match (other, r) {
                    ("float", Resolved::Int(i)) => Resolved::Float(i as f64),
                    (_, r) => r,
                }
            }
        },
    };
    let text = || Some(value.to_string());
    Ok(match resolved {
        Resolved::Null => (Scalar::Null, None),
        Resolved::Bool(b) => (Scalar::Bool(b), text()),
        Resolved::Int(i) => (Scalar::Int(i), text()),
        Resolved::Uint(u) => (Scalar::Float(u as f64), text()),
        Resolved::Float(f) => (Scalar::Float(f), text()),
        Resolved::Time(t) => (Scalar::Time(secret(t)), text()),
        Resolved::Merge | Resolved::Str => (Scalar::Str(secret(value)), None),
    })
}

/// Whether an untagged scalar types as a string ([`type_scalar`] makes a [`Scalar::Str`] of it):
/// a quoted or block one always, a plain one when it resolves to one.
pub(super) fn reads_as_str(text: &str, style: ScalarStyle) -> bool {
    style != ScalarStyle::Plain || matches!(resolve_plain(text), Resolved::Str | Resolved::Merge)
}

/// Go's name of a scalar's type, as sops's error about a non-string key prints it.
pub(super) fn key_type_name(s: &Scalar) -> &'static str {
    match s {
        Scalar::Null => "<nil>",
        Scalar::Bool(_) => "bool",
        Scalar::Int(_) => "int",
        Scalar::Float(_) => "float64",
        Scalar::Time(_) => "time.Time",
        _ => "[]uint8",
    }
}
