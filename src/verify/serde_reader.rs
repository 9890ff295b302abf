//! The independent reading of JSON and TOML output: a serde visitor over the reference parsers'
//! events (serde_json, toml), which must find only encrypted or allowed values. YAML is read
//! event by event with libyaml ([`super::yaml_reader`]).

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{fail, Allowed, Unaccounted};
use crate::stores::Format;

/// Visits one value; `top` is the document root, whose `sops` entry is skipped.
struct Checker<'a> {
    allowed: &'a Allowed,
    top: bool,
}

impl<'de> DeserializeSeed<'de> for Checker<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Checker<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        if self.allowed.bools[usize::from(v)] {
            Ok(())
        } else {
            Err(E::custom("a boolean in clear"))
        }
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.number(v as f64, &v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.number(v as f64, &v.to_string())
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<(), E> {
        self.number(v as f64, &v.to_string())
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<(), E> {
        self.number(v as f64, &v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.number(v, "")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        if self.allowed.has_text(v) {
            Ok(())
        } else {
            Err(E::custom("a string in clear"))
        }
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<(), E> {
        self.visit_str(&String::from_utf8_lossy(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq
            .next_element_seed(Checker {
                allowed: self.allowed,
                top: false,
            })?
            .is_some()
        {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(is_sops) = map.next_key_seed(KeySeed)? {
            if self.top && is_sops {
                map.next_value::<IgnoredAny>()?;
            } else {
                map.next_value_seed(Checker {
                    allowed: self.allowed,
                    top: false,
                })?;
            }
        }
        Ok(())
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        // A YAML value with a tag serde_yaml_ng does not resolve: check what it tags.
        use de::VariantAccess;
        let (_, variant): (IgnoredAny, _) = data.variant()?;
        variant.newtype_variant_seed(self)
    }
}

impl Checker<'_> {
    fn number<E: de::Error>(&self, v: f64, text: &str) -> Result<(), E> {
        if self.allowed.has_number(v) || (!text.is_empty() && self.allowed.texts.contains(text)) {
            Ok(())
        } else {
            Err(E::custom("a number in clear"))
        }
    }
}

/// A map key: whether it is the string `sops` (keys are never encrypted, so never checked, and
/// never copied).
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(v == "sops")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(false)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(false)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(false)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(false)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(false)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(false)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(false)
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        use de::VariantAccess;
        let (_, variant): (IgnoredAny, _) = data.variant()?;
        variant.newtype_variant::<IgnoredAny>()?;
        Ok(false)
    }
}

pub(super) fn json_reading(output: &[u8], allowed: &Allowed) -> Result<(), Unaccounted> {
    let mut de = serde_json::Deserializer::from_slice(output);
    let checked = Checker { allowed, top: true }
        .deserialize(&mut de)
        .and_then(|()| de.end());
    checked.map_err(|e| {
        fail(
            Format::Json,
            "read by a JSON parser",
            format!("line {} ({})", e.line(), strip_position(&e.to_string())),
        )
    })
}

pub(super) fn yaml_reading(output: &[u8], allowed: &Allowed) -> Result<(), Unaccounted> {
    // libyaml reads UTF-8 here: UTF-16 output (of a UTF-16 file) is read as its UTF-8 text.
    let decoded = match crate::stores::utf16::decode(output) {
        Some(Ok((utf8, _))) => Some(crate::wipe::Wiped::new(utf8)),
        Some(Err(e)) => return Err(fail(Format::Yaml, "read by a YAML parser", e.to_string())),
        None => None,
    };
    let output = decoded.as_deref().map_or(output, |v| v.as_slice());
    // A leading UTF-8 byte-order mark is not part of the first document.
    let output = output.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(output);
    super::yaml_reader::yaml_events_reading(output, allowed)
}

/// A parser message without its position suffix (the position is reported separately), cut to
/// the reason; the visitor's own messages never hold a value.
fn strip_position(msg: &str) -> String {
    let m = msg.split(" at line ").next().unwrap_or(msg);
    m.chars().take(120).collect()
}

pub(super) fn toml_reading(output: &[u8], allowed: &Allowed) -> Result<(), Unaccounted> {
    const READER: &str = "read by a TOML parser";
    let text = std::str::from_utf8(output)
        .map_err(|_| fail(Format::Toml, READER, "a byte that is not UTF-8"))?;
    let place = |e: &toml::de::Error| {
        let line = e
            .span()
            .map(|s| crate::stores::text_line_of(output, s.start));
        let reason = e.message().lines().next().unwrap_or("").chars().take(120);
        match line {
            Some(l) => format!("line {l} ({})", reason.collect::<String>()),
            None => reason.collect(),
        }
    };
    let de =
        toml::de::Deserializer::parse(text).map_err(|e| fail(Format::Toml, READER, place(&e)))?;
    Checker { allowed, top: true }
        .deserialize(de)
        .map_err(|e| fail(Format::Toml, READER, place(&e)))
}
