//! A parsed file's source bytes: the store-private layout that keeps them (with every format's
//! memory of where things are), and lending a reading that kept no copy its bytes when it needs
//! them (the output check reads outputs of tens of megabytes).

use std::any::Any;

use super::{utf16, Parsed, Store, StoreError};
use crate::filebytes::FileBytes;

/// Store-specific memory of where things are in the source bytes: each format keeps a layout of
/// its own type here and reads it back in its [`FormatStore`] methods.
pub(crate) struct Layout(Box<dyn Any + Send + Sync>);

impl Layout {
    pub(crate) fn new<T: Any + Send + Sync>(layout: T) -> Self {
        Layout(Box::new(layout))
    }

    /// The layout, as the format `T` wrote it; an error when another store parsed the file.
    pub(crate) fn of<T: Any>(&self) -> Result<&T, StoreError> {
        self.get::<T>().ok_or_else(|| {
            StoreError::new("internal error: a file parsed by one store was handed to another")
        })
    }

    /// [`Layout::of`] without the error (which is a message made each time: a question asked of
    /// every leaf does not make one).
    pub(crate) fn get<T: Any>(&self) -> Option<&T> {
        self.0.downcast_ref::<T>()
    }

    /// [`Layout::of`], to change.
    pub(crate) fn of_mut<T: Any>(&mut self) -> Option<&mut T> {
        self.0.downcast_mut::<T>()
    }
}

/// [`super::FormatStore::swap_source`] for a format whose layout `T` keeps its source bytes in the
/// field `field` gives.
pub(crate) fn swap_layout_source<T: Any>(
    parsed: &mut Parsed,
    src: &mut FileBytes,
    field: impl FnOnce(&mut T) -> &mut FileBytes,
) -> bool {
    parsed
        .layout
        .of_mut::<T>()
        .map(|l| std::mem::swap(field(l), src))
        .is_some()
}

impl Store {
    /// Parse `src` for a reading that needs its source bytes only now and then (the output
    /// check): no copy of them is kept where the format allows, and [`Store::with_source`] lends
    /// them when they are needed. (A large output would otherwise be in memory twice.)
    pub fn parse_lent(&self, src: &[u8]) -> Result<Parsed, StoreError> {
        let store = self.format.store();
        store.parse_lent(src).unwrap_or_else(|| store.parse(src))
    }

    /// [`Store::parse_lent`] leaving the data's `ENC[...]` values in `src` where the format can
    /// ([`super::FormatStore::parse_lent_lending`]).
    pub fn parse_lent_lending(&self, src: &[u8]) -> Result<Parsed, StoreError> {
        let store = self.format.store();
        store
            .parse_lent_lending(src)
            .unwrap_or_else(|| self.parse_lent(src))
    }

    /// Run `f` on `parsed` (a reading of `src` by [`Store::parse_lent`]) with its source bytes
    /// lent to it; `src` is given back whole.
    pub fn with_source<T>(
        &self,
        parsed: &mut Parsed,
        src: &mut Vec<u8>,
        f: impl FnOnce(&Parsed) -> T,
    ) -> T {
        let store = self.format.store();
        let mut lent = FileBytes::from(std::mem::take(src));
        let swapped = store.swap_source(parsed, &mut lent);
        let out = f(parsed);
        if swapped {
            store.swap_source(parsed, &mut lent);
        }
        // The buffer lent, given back as it was (a read buffer is not copied).
        *src = std::mem::take(&mut *lent.into_wiped());
        out
    }

    /// The bytes `parsed` was read from, when this format keeps them and they are UTF-8 (the
    /// text a UTF-16 file decodes to is not the file's bytes).
    pub fn source<'a>(&self, parsed: &'a Parsed) -> Option<&'a [u8]> {
        if parsed.encoding != utf16::TextEncoding::Utf8 {
            return None;
        }
        self.format.store().source(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stores::{Format, StoreOptions};

    /// A reading that kept no copy splices as a full parse does once it is lent its bytes, or
    /// given them, and the bytes come back whole (every format: those that cannot lend keep a
    /// copy).
    #[test]
    fn a_lent_reading_splices_like_a_full_parse() {
        let files: &[(Format, &str)] = &[
            (Format::Yaml, "\u{feff}# c\na: 1 # x\nb: [x, 'y']\n"),
            (Format::Json, "{\n  \"a\": [1, \"x\"], \"b\": {}\n}\n"),
            // With a `sops` entry, which the splice removes.
            (Format::Yaml, "a: 1\nsops:\n  version: x\nb: [2]\n"),
            (
                Format::Json,
                "{\n\t\"a\": 1,\n\t\"sops\": {\"version\": \"x\"},\n\t\"b\": 2\n}\n",
            ),
            (Format::Toml, "a = 1\n[t]\nb = 'x'\n"),
            (Format::Ini, "[s]\nk = v\n"),
            (Format::Dotenv, "A=1\n# c\n"),
        ];
        for &(format, text) in files {
            let store = Store::new(format, StoreOptions::default());
            let full = store.parse(text.as_bytes()).unwrap();
            let expected = store.splice(&full, &vec![None; 16], None).unwrap();
            let mut lent = store.parse_lent(text.as_bytes()).unwrap();
            // Spliced from the bytes given, where the format can (YAML and JSON must).
            match store.splice_from(&lent, text.as_bytes(), &vec![None; 16], None) {
                Some(from) => assert_eq!(from.unwrap(), expected, "{format:?}"),
                None => assert!(!matches!(format, Format::Yaml | Format::Json), "{format:?}"),
            }
            let mut src = text.as_bytes().to_vec();
            let spliced = store.with_source(&mut lent, &mut src, |p| {
                store.splice(p, &vec![None; 16], None).unwrap()
            });
            assert_eq!(spliced, expected, "{format:?}");
            assert_eq!(src, text.as_bytes(), "{format:?}");
        }
    }
}
