//! Plaintext output from a splice: decryption, `exec` and the edit buffer write the decrypted
//! values into the encrypted file's bytes, and the result is used only when it reads back as
//! the decrypted data; otherwise the values are laid out from scratch, as sops lays them out.

use super::{apply_changes, text, Changes, Format, Parsed, Store, StoreError};
use crate::tree::{Tree, Value};

impl Store {
    /// [`Store::splice`] for plaintext output (decrypt, exec, the edit buffer): the output must
    /// read back as the decrypted data. Where the splice cannot write a value back in place (a
    /// construct it does not expect), the file is laid out from scratch as sops lays it out
    /// instead: the layout may change, a value never does.
    pub fn splice_plain(
        &self,
        parsed: &Parsed,
        changes: &Changes,
        metadata: Option<&Value>,
    ) -> Result<Vec<u8>, StoreError> {
        self.plain_from_splice(
            parsed,
            changes,
            metadata,
            self.splice(parsed, changes, metadata),
        )
    }

    /// The second half of [`Store::splice_plain`], given what `self.splice(parsed, changes,
    /// metadata)` gave: that splice when it reads back as the decrypted data, else the values
    /// laid out from scratch.
    pub fn plain_from_splice(
        &self,
        parsed: &Parsed,
        changes: &Changes,
        metadata: Option<&Value>,
        spliced: Result<Vec<u8>, StoreError>,
    ) -> Result<Vec<u8>, StoreError> {
        // The values laid out from scratch: for a splice that cannot be made (a construct the
        // store does not expect) or that does not read back as the decrypted data.
        let from_scratch = || self.plain_from_scratch(parsed, changes, metadata);
        let out = match spliced {
            Ok(out) => crate::wipe::Wiped::new(out),
            Err(_) if self.format != Format::Binary => return from_scratch(),
            Err(e) => return Err(e),
        };
        if self.reads_back(&out, &parsed.tree, changes) {
            Ok(text::into_vec(out))
        } else {
            from_scratch()
        }
    }

    /// What [`Store::splice_plain`] gives when its splice cannot be used: `parsed`'s tree with
    /// `changes` applied, laid out from scratch.
    pub fn plain_from_scratch(
        &self,
        parsed: &Parsed,
        changes: &Changes,
        metadata: Option<&Value>,
    ) -> Result<Vec<u8>, StoreError> {
        self.emit(&apply_changes(&parsed.tree, changes), metadata)
    }

    /// Whether a plaintext splice `out` reads as `tree` with `changes` applied (a binary file's
    /// always does).
    pub fn reads_back(&self, out: &[u8], tree: &Tree, changes: &Changes) -> bool {
        self.format == Format::Binary || self.format.store().reads_as_changed(out, tree, changes)
    }
}
