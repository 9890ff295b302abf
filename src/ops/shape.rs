//! The plaintext tree's shape digest for an encryption's check ([`crate::tree::shape_digest`]):
//! the check compares it with the shape of its own reading of the output, once that reading is
//! done, and the digest is made wherever a processor is free until then. A splice that uses one
//! processor has the digest made (and the tree freed) beside it, on a thread of its own; a splice
//! that uses both (JSON's, written in halves) leaves it to the independent reading's thread, which
//! makes it before it reads the output (docs/performance.md, twenty-fifth round).

use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Mutex, OnceLock};
use std::thread::JoinHandle;

use crate::tree::{shape_digest, Tree};

/// The digest: known, or to be received from where it is made.
pub(super) struct Shape {
    known: OnceLock<Option<[u8; 32]>>,
    later: Option<Mutex<Receiver<[u8; 32]>>>,
    /// The thread that digests the tree and frees it, joined before the digest is dropped (the
    /// tree holds plaintext).
    thread: Option<JoinHandle<()>>,
}

/// Where the digest of [`Shape::later`] is to be sent, with [`send_digest`].
pub(super) type DigestTo = Option<SyncSender<[u8; 32]>>;

impl Shape {
    /// A digest made already (`None`: not known).
    pub(super) fn ready(digest: Option<[u8; 32]>) -> Shape {
        Shape {
            known: OnceLock::from(digest),
            later: None,
            thread: None,
        }
    }

    /// A digest made elsewhere and sent where the second value says.
    pub(super) fn later() -> (Shape, DigestTo) {
        let (send, receive) = std::sync::mpsc::sync_channel(1);
        let shape = Shape {
            known: OnceLock::new(),
            later: Some(Mutex::new(receive)),
            thread: None,
        };
        (shape, Some(send))
    }

    /// Digest `tree` and free it on a thread of its own. Where no thread starts, the tree is
    /// freed with the closure and the digest is not known.
    pub(super) fn beside(tree: Tree) -> Shape {
        let (mut shape, send) = Shape::later();
        // (The closure dropped unrun drops the sender: the digest is then received as unknown.)
        shape.thread = crate::threads::try_spawn(move || send_digest(send, tree)).ok();
        shape
    }

    /// Wait until the thread of [`Shape::beside`] is done, the tree freed: before a stage that
    /// allocates much (sepal's own reading of a YAML output builds a tree), so that the two do
    /// not hold their memory at once.
    pub(super) fn freed(mut self) -> Self {
        // The digest was sent before the tree was freed: it waits in the channel.
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self
    }

    /// The digest, once made (`None`: not known).
    pub(super) fn digest(&self) -> Option<[u8; 32]> {
        *self
            .known
            .get_or_init(|| self.later.as_ref()?.lock().ok()?.recv().ok())
    }
}

impl Drop for Shape {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Digest `tree`, send the digest to `to` (where it is wanted) and free the tree.
pub(super) fn send_digest(to: DigestTo, tree: Tree) {
    if let Some(to) = to {
        // Not received only where the check ended before it needed the digest.
        let _ = to.send(shape_digest(&tree));
    }
    drop(tree);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(text: &str) -> Tree {
        crate::stores::json::parse(text.as_bytes()).unwrap().tree
    }

    #[test]
    fn every_way_gives_the_trees_digest() {
        let t = tree(r#"{"a": [1, {"b": "c"}], "d": {}}"#);
        let expected = shape_digest(&t);
        assert_eq!(Shape::ready(Some(expected)).digest(), Some(expected));
        assert_eq!(Shape::ready(None).digest(), None);
        assert_eq!(
            Shape::beside(tree(r#"{"a": [1, {"b": "c"}], "d": {}}"#)).digest(),
            Some(expected)
        );
        let (later, to) = Shape::later();
        std::thread::scope(|s| {
            s.spawn(|| send_digest(to, t));
            assert_eq!(later.digest(), Some(expected));
            // Asked again: the digest kept.
            assert_eq!(later.digest(), Some(expected));
        });
        // Never sent: not known, without waiting for ever.
        let (later, to) = Shape::later();
        drop(to);
        assert_eq!(later.digest(), None);
    }
}
