//! `decrypt`: the plaintext file, laid out as the encrypted one was (byte for byte what was
//! encrypted), or one value of it (`--extract`).

use crate::stores::{apply_changes, Format, Store, StoreError};
use crate::tree::{Doc, Scalar, Tree, Value};
use crate::treepath::{self, Step};

use super::{
    parse_and_decrypt, plaintext, DecryptOptions, Engine, Error, KeyAccess, Result, Source,
};

/// What `decrypt` is asked.
#[derive(Debug, Clone, Default)]
pub struct DecryptRequest {
    pub input: Option<Format>,
    pub output: Option<Format>,
    /// `--extract`: the path of the one value to print.
    pub extract: Option<Vec<Step>>,
    pub ignore_mac: bool,
    pub access: KeyAccess,
}

/// Parse an `--extract` path.
pub fn extract_path(text: &str) -> Result<Vec<Step>> {
    treepath::parse(text).map_err(Error::ExtractPath)
}

/// Decrypt `source` (its bytes are consumed); returns the plaintext.
pub fn decrypt(
    engine: &Engine,
    source: &mut Source,
    request: &DecryptRequest,
) -> Result<crate::wipe::Wiped<Vec<u8>>> {
    decrypt_noting_conflicts(engine, source, request).map(|(out, _)| out)
}

/// A plaintext, and the paths of the merge conflicts its file still has (`None`: none).
pub type WithConflicts = (crate::wipe::Wiped<Vec<u8>>, Option<Vec<String>>);

/// [`decrypt`], and the paths of the merge conflicts the file still has (see
/// [`super::merge::conflict_paths`]).
pub fn decrypt_noting_conflicts(
    engine: &Engine,
    source: &mut Source,
    request: &DecryptRequest,
) -> Result<WithConflicts> {
    let (in_format, out_format) = source.formats(request.input, request.output);
    let in_store = engine.store(in_format);
    let out_store = engine.store(out_format);
    // The file's own layout, byte for byte; `--indent` asks for sops's layout instead.
    let own_layout =
        request.extract.is_none() && out_format == in_format && engine.indent.is_none();
    // Until the walk is over (given back there, or when this returns).
    let _kept = super::free::KeptFreedPages::start();
    let (mut parsed, dec) = parse_and_decrypt(
        &in_store,
        source,
        true,
        &request.access,
        DecryptOptions {
            ignore_mac: request.ignore_mac,
            for_reencryption: false,
            // The splice reads the decrypted values, and the tree only for what they leave.
            changed_values_unread: own_layout,
        },
    )?;
    let conflicts = super::merge::conflict_paths(&dec);
    let out = if let Some(steps) = &request.extract {
        let tree = apply_changes(&parsed.tree, &dec.changes);
        extract(&tree, steps, &out_store)?
    } else if own_layout {
        // The ciphertexts the walk decrypted are not needed (nor kept, where the reading left
        // them in the source).
        crate::tree::forget_changed_values(&mut parsed.tree, &dec.changes);
        let out = plaintext(&in_store, &parsed, &dec, None)?;
        // The values are wiped and freed on a thread of their own before this returns; the
        // parsed file (which `forget_changed_values` left with nothing that is not in the file
        // on disk) is freed beside them, without waiting for it.
        let mut freer = super::free::Freer::default();
        let leaves = dec.changes.len();
        let source = in_store.source(&parsed).map_or(0, <[u8]>::len);
        freer.free(dec, leaves >= super::free::LARGE);
        super::free::free_unwaited(parsed, super::free::worth_a_thread(leaves, source));
        drop(freer);
        return Ok((out, conflicts));
    } else {
        let tree = apply_changes(&parsed.tree, &dec.changes);
        out_store.emit(&tree, None).map_err(Error::Dump)?
    };
    Ok((crate::wipe::Wiped::new(out), conflicts))
}

/// `decrypt --check`: decrypt `source` in memory and check its MAC and that the keys work; the
/// plaintext is dropped (its buffers are wiped), nothing is returned or written. Fails as
/// [`decrypt`] would.
pub fn check(
    engine: &Engine,
    source: &mut Source,
    input: Option<Format>,
    access: &KeyAccess,
) -> Result<()> {
    let (in_format, _) = source.formats(input, None);
    let store = engine.store(in_format);
    let (parsed, decrypted) = parse_and_decrypt(
        &store,
        source,
        true,
        access,
        DecryptOptions {
            ignore_mac: false,
            for_reencryption: false,
            changed_values_unread: true,
        },
    )?;
    drop(decrypted);
    drop(parsed);
    Ok(())
}

/// The value at `steps` as `--extract` prints it: a string as its bytes, anything else in the
/// output format.
fn extract(tree: &Tree, steps: &[Step], store: &Store) -> Result<Vec<u8>> {
    let doc = tree.docs.first().map(|d| d.items.as_slice()).unwrap_or(&[]);
    let value = treepath::lookup(doc, steps).map_err(Error::Extract)?;
    let emitted: Result<Vec<u8>, StoreError> = match &value {
        Value::Leaf(l) => match &l.value {
            Scalar::Str(s) => return Ok(s.as_bytes().to_vec()),
            Scalar::Bytes(b) => return Ok(b.to_vec()),
            _ => store.emit_value(&value),
        },
        Value::Map(items) => store.emit(
            &Tree {
                docs: vec![Doc {
                    items: items.clone(),
                }],
            },
            None,
        ),
        Value::List(_) => store.emit_value(&value),
    };
    emitted.map_err(Error::Dump)
}
