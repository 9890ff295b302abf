//! What the two `key = value` stores (dotenv, INI) share: sops writes their non-string values with
//! its `ValToString`, and reads their metadata from flattened keys.

use crate::gotext::scalar_text;
use crate::tree::{Item, Scalar, Value, NO_LEAF};

/// Give metadata leaves the id outside the id sequence.
pub(crate) fn set_metadata_ids(value: &mut Value) {
    match value {
        Value::Leaf(l) => l.id = NO_LEAF,
        Value::Map(items) | Value::List(items) => {
            for item in items {
                match item {
                    Item::Comment(l) => l.id = NO_LEAF,
                    Item::Pair { value, .. } | Item::Elem(value) => set_metadata_ids(value),
                }
            }
        }
    }
}

/// sops's `ValToString` (times without fraction, null as Go prints `nil`).
pub(crate) fn value_to_string(value: &Scalar) -> String {
    match value {
        Scalar::Null => "<nil>".to_string(),
        Scalar::Time(t) => strip_fraction(t),
        other => scalar_text(other).unwrap_or_default(),
    }
}

/// RFC 3339 with nanoseconds → RFC 3339 (Go `time.RFC3339` drops the fraction).
fn strip_fraction(t: &str) -> String {
    if let Some(tpos) = t.find('T') {
        if let Some(dot) = t[tpos..].find('.').map(|d| d + tpos) {
            let rest = &t[dot + 1..];
            let digits = rest.bytes().take_while(|b| b.is_ascii_digit()).count();
            return format!("{}{}", &t[..dot], &rest[digits..]);
        }
    }
    t.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_lose_their_fraction() {
        assert_eq!(
            strip_fraction("2024-01-02T03:04:05.123+02:00"),
            "2024-01-02T03:04:05+02:00"
        );
    }
}
