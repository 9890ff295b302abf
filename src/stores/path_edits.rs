//! `set` and `unset` on a plaintext file: the value at a path changed by editing the file's
//! text where its format can, checked by reading the edit back, else the changed tree laid out
//! from scratch. The same for every format, over [`super::FormatStore`]'s text edits.

use super::{utf16, Format, NewLeaf, Parsed, Store, StoreError};
use crate::tree::{Tree, Value};
use crate::treepath::Step;

impl Store {
    /// Set the value at `steps` in a parsed plaintext file by editing its text (sops semantics:
    /// missing maps/lists are created, an index past the end appends). `Ok(None)` when this store
    /// cannot make the change textually.
    pub fn set_at(
        &self,
        parsed: &Parsed,
        steps: &[Step],
        value: &Value,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.format
            .store()
            .set_at(parsed, steps, value, &self.options)
    }

    /// Remove the value at `steps` from a parsed plaintext file by editing its text. The path
    /// must exist (check it on the tree first); `Ok(None)` when this store cannot make the
    /// change textually.
    pub fn unset_at(&self, parsed: &Parsed, steps: &[Step]) -> Result<Option<Vec<u8>>, StoreError> {
        self.format.store().unset_at(parsed, steps)
    }

    /// `set` on a plaintext file: a text edit when the store can make one (checked by re-parsing
    /// it), else a scalar replacing a scalar spliced in place, else the changed tree laid out from
    /// scratch.
    pub fn set(
        &self,
        parsed: &Parsed,
        steps: &[Step],
        value: &Value,
    ) -> Result<Vec<u8>, StoreError> {
        let mut expected = parsed.tree.clone();
        if expected.docs.is_empty() {
            expected.docs.push(crate::tree::Doc::default());
        }
        if let Some(doc) = expected.docs.first_mut() {
            crate::treepath::set(&mut doc.items, steps, value.clone());
        }
        let attempt = match self.set_at(parsed, steps, value)? {
            Some(edited) => Some(edited),
            // (A UTF-16 file's splice is already encoded: only UTF-8 ones are replaced here.)
            None if parsed.encoding == utf16::TextEncoding::Utf8 => {
                self.replace_scalar(parsed, steps, value)?
            }
            None => None,
        };
        let out = self.checked(attempt, &expected)?;
        utf16::encode(out, parsed.encoding)
    }

    /// The file with the scalar at `steps` replaced in place by the scalar `value` (spliced, so
    /// written in the file's encoding); `None` when either is not a scalar.
    pub fn replace_scalar(
        &self,
        parsed: &Parsed,
        steps: &[Step],
        value: &Value,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let doc = parsed.tree.docs.first().map(|d| d.items.as_slice());
        let existing = doc.and_then(|items| crate::treepath::lookup(items, steps).ok());
        if let (Some(Value::Leaf(old)), Value::Leaf(new)) = (&existing, value) {
            if old.id != crate::tree::NO_LEAF {
                let mut changes = vec![None; crate::tree::leaf_count(&parsed.tree)];
                let text = crate::gotext::canonical_bytes(&new.value);
                if let Some(slot) = changes.get_mut(old.id) {
                    *slot = Some(NewLeaf::Plain {
                        value: new.value.clone(),
                        text: crate::tree::secret(String::from_utf8_lossy(&text)),
                    });
                }
                return self.splice(parsed, &changes, None).map(Some);
            }
        }
        Ok(None)
    }

    /// `unset` on a plaintext file (see [`Store::set`]). Errors as sops words them when the path
    /// does not exist.
    pub fn unset(&self, parsed: &Parsed, steps: &[Step]) -> Result<Vec<u8>, StoreError> {
        let mut expected = parsed.tree.clone();
        match expected.docs.first_mut() {
            Some(doc) => crate::treepath::unset(&mut doc.items, steps)
                .map_err(|e| StoreError::new(e.to_string()))?,
            None => return Err(StoreError::new("the file has no document")),
        }
        let attempt = self.unset_at(parsed, steps)?;
        let out = self.checked(attempt, &expected)?;
        utf16::encode(out, parsed.encoding)
    }

    /// The edited text when it reads back as `expected` (first document, comments aside), else
    /// `expected` laid out from scratch.
    fn checked(&self, attempt: Option<Vec<u8>>, expected: &Tree) -> Result<Vec<u8>, StoreError> {
        if let Some(bytes) = attempt {
            if self.reads_as(&bytes, expected) {
                return Ok(bytes);
            }
        }
        self.emit(expected, None)
    }

    /// Does `bytes` parse to the same first document as `expected` once written by this store?
    pub(crate) fn reads_as(&self, bytes: &[u8], expected: &Tree) -> bool {
        let Ok(got) = self.parse(bytes) else {
            return false;
        };
        let Ok(canon) = self.emit(expected, None).and_then(|b| self.parse(&b)) else {
            return false;
        };
        if got.metadata.is_some() != canon.metadata.is_some() {
            return false;
        }
        let first =
            |t: &Tree| Value::Map(t.docs.first().map(|d| d.items.clone()).unwrap_or_default());
        if self.format == Format::Toml {
            // A TOML table's keys are in file order, and a new one goes before the sub-tables.
            crate::treepath::same_value_any_order(&first(&got.tree), &first(&canon.tree))
        } else {
            crate::treepath::same_value(&first(&got.tree), &first(&canon.tree))
        }
    }
}
