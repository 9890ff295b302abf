//! The [`super::FormatStore`] methods that every format writes the same way, handing over to its
//! own module's functions: written once here as macros, which each store expands in its
//! `impl FormatStore` (their names resolve where they are expanded).

/// The [`super::FormatStore`] methods that hand over to the format module's own `splice` (with its
/// layout type), `emit` and `emit_value` functions, written once for every format.
macro_rules! hand_over_writes {
    ($layout:ty) => {
        fn splice(
            &self,
            parsed: &Parsed,
            changes: &Changes,
            metadata: Option<&Value>,
            options: &StoreOptions,
        ) -> Result<Vec<u8>, StoreError> {
            splice(
                parsed.layout.of::<$layout>()?,
                parsed,
                changes,
                metadata,
                options,
            )
        }

        fn emit(
            &self,
            tree: &Tree,
            metadata: Option<&Value>,
            options: &StoreOptions,
        ) -> Result<Vec<u8>, StoreError> {
            emit(tree, metadata, options)
        }

        fn emit_value(&self, value: &Value, options: &StoreOptions) -> Result<Vec<u8>, StoreError> {
            emit_value(value, options)
        }

        fn source<'a>(&self, parsed: &'a Parsed) -> Option<&'a [u8]> {
            parsed.layout.of::<$layout>().ok().and_then(|l| l.source())
        }
    };
}
pub(super) use hand_over_writes;

/// [`super::FormatStore::splice_from`] for a format module with a `splice::splice_from(layout, src,
/// parsed, changes, metadata, options)` (those whose splice reads its source only through `src`);
/// with `unless`, also [`super::FormatStore::splice_from_unless`] for one with a
/// `splice::splice_from_unless(layout, src, parsed, changes, metadata, options, expected)`.
macro_rules! hand_over_splice_from {
    ($layout:ty, unless) => {
        super::hand_over_splice_from!($layout);

        fn splice_from_unless(
            &self,
            parsed: &Parsed,
            src: &[u8],
            changes: &Changes,
            metadata: Option<&Value>,
            options: &StoreOptions,
            expected: &[u8],
        ) -> Option<Result<Option<Vec<u8>>, StoreError>> {
            Some(parsed.layout.of::<$layout>().and_then(|layout| {
                splice::splice_from_unless(
                    layout, src, parsed, changes, metadata, options, expected,
                )
            }))
        }
    };
    ($layout:ty) => {
        fn splice_from(
            &self,
            parsed: &Parsed,
            src: &[u8],
            changes: &Changes,
            metadata: Option<&Value>,
            options: &StoreOptions,
        ) -> Option<Result<Vec<u8>, StoreError>> {
            Some(parsed.layout.of::<$layout>().and_then(|layout| {
                splice::splice_from(layout, src, parsed, changes, metadata, options)
            }))
        }
    };
}
pub(super) use hand_over_splice_from;

/// The [`super::FormatStore`] text edits of the line-based formats (dotenv, INI), which hand over to
/// the module's `set_at(layout, parsed, steps, value)` and `unset_at(layout, parsed, steps)`.
macro_rules! hand_over_line_edits {
    ($layout:ty) => {
        fn set_at(
            &self,
            parsed: &Parsed,
            steps: &[Step],
            value: &Value,
            _options: &StoreOptions,
        ) -> Result<Option<Vec<u8>>, StoreError> {
            set_at(parsed.layout.of::<$layout>()?, parsed, steps, value)
        }

        fn unset_at(&self, parsed: &Parsed, steps: &[Step]) -> Result<Option<Vec<u8>>, StoreError> {
            unset_at(parsed.layout.of::<$layout>()?, parsed, steps)
        }
    };
}
pub(super) use hand_over_line_edits;
