//! Freeing a large file's structures beside other work. A 200,000-value file's trees and value
//! lists are hundreds of thousands of allocations, and those holding plaintext are wiped first:
//! tens of milliseconds that need not wait for each other. Everything handed over is freed (and
//! wiped) before the [`Freer`] itself is gone: it waits for its threads when dropped. What holds
//! nothing secret can be freed without waiting ([`free_unwaited`]).

use std::sync::OnceLock;
use std::thread::JoinHandle;

/// What the executable's allocator is asked to do with the pages a run frees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreedPages {
    /// Keep them for what is allocated next, not given back to the system.
    Keep,
    /// Give them back soon after they empty (the executable's default).
    GiveBack,
}

/// How the executable applies [`FreedPages`] to its allocator (none: nothing is done).
static FREED_PAGES: OnceLock<fn(FreedPages)> = OnceLock::new();

/// Install how [`FreedPages`] is applied (once, by the executable, whose allocator it is).
pub fn on_freed_pages(apply: fn(FreedPages)) {
    let _ = FREED_PAGES.set(apply);
}

fn freed_pages(policy: FreedPages) {
    if let Some(apply) = FREED_PAGES.get() {
        apply(policy);
    }
}

/// Freed pages kept from now until this is dropped, or until [`give_back_freed_pages`], for a
/// stage that allocates what the one before it freed: pages given back in between are faulted
/// in again, zeroed, by the next stage. Two such stretches are worth it
/// (docs/performance.md, twenty-first round):
/// - from the start of `encrypt` and `decrypt` until their cipher walk is over: the reading frees
///   what the walk allocates (the raw nodes a YAML tree is made from, the reading's scratch). A
///   200,000-value YAML encryption 414 -> 403 ms (8,000 fewer page faults), its decryption 265
///   -> 252 ms, for 1-6 MiB more at the peak;
/// - from an encryption's splice until sepal's own reading of the output is done: the plaintext's
///   tree, freed beside the splice, is what that reading allocates. 396 -> 383 ms (12,000 fewer
///   faults), the peak 127 -> 148 MiB (rops's: 158.7).
///
/// Kept throughout the run, the peak grew to 166 MiB.
pub(crate) struct KeptFreedPages(());

impl KeptFreedPages {
    pub(crate) fn start() -> Self {
        freed_pages(FreedPages::Keep);
        KeptFreedPages(())
    }
}

impl Drop for KeptFreedPages {
    fn drop(&mut self) {
        give_back_freed_pages();
    }
}

/// Freed pages are given back again (soon after they empty), so that what the later stages free
/// keeps the next ones' peak down. Called when a cipher walk is over.
pub(crate) fn give_back_freed_pages() {
    freed_pages(FreedPages::GiveBack);
}

/// Drops values on threads of their own, and waits for them when it is dropped.
#[derive(Default)]
pub(crate) struct Freer {
    threads: Vec<JoinHandle<()>>,
}

impl Freer {
    /// Drop `value` on a thread of its own when `large`, else here and now. Where no thread can be
    /// started, it is dropped here.
    pub(crate) fn free<T: Send + 'static>(&mut self, value: T, large: bool) {
        if !large {
            drop(value);
            return;
        }
        self.threads.extend(drop_on_a_thread(value));
    }
}

impl Drop for Freer {
    fn drop(&mut self) {
        for thread in self.threads.drain(..) {
            // A panic while freeing has nothing left to report to.
            let _ = thread.join();
        }
    }
}

/// Drop `value`, which holds nothing secret, on a thread nobody waits for when `large` (else here
/// and now): the caller has its answer and need not wait for the frees, and a process that exits
/// first leaves them to the kernel. For an encrypted file's parsed structures once its plaintext
/// is made (keys, ciphertexts, comments, values stored unencrypted: all of it in the file on
/// disk); a JSON 200,000-value decryption 357 -> 336 ms (twelfth round). Anything that holds
/// plaintext goes to a [`Freer`], which wipes it before the command returns.
pub(crate) fn free_unwaited<T: Send + 'static>(value: T, large: bool) {
    if large {
        // Not joined: the thread is left to finish on its own.
        drop(drop_on_a_thread(value));
    } else {
        drop(value);
    }
}

/// Drop `value` on a thread of its own. A failed spawn drops the closure, and the value with it,
/// on this thread.
fn drop_on_a_thread<T: Send + 'static>(value: T) -> Option<JoinHandle<()>> {
    std::thread::Builder::new().spawn(move || drop(value)).ok()
}

/// Values with at least this many leaves are worth a thread to free.
pub(crate) const LARGE: usize = 16 * 1024;

/// What holds this many bytes of text or more is worth a thread to free, whatever its leaves:
/// a parsed file's source is wiped byte by byte, and an output's reading holds a copy of every
/// ciphertext (a 10,000-value decryption: 0.5-0.7 ms less; docs/performance.md, seventeenth
/// round).
const LARGE_TEXT: usize = 64 * 1024;

/// Whether something of `leaves` leaves and `text` bytes of text is worth a thread to free.
pub(crate) fn worth_a_thread(leaves: usize, text: usize) -> bool {
    leaves >= LARGE || text >= LARGE_TEXT
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    struct Counted(Arc<AtomicUsize>);

    impl Drop for Counted {
        fn drop(&mut self) {
            std::thread::sleep(std::time::Duration::from_millis(20));
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    thread_local! {
        /// What the hook was told on this thread.
        static TOLD: std::cell::RefCell<Vec<FreedPages>> = const { std::cell::RefCell::new(Vec::new()) };
    }

    fn record(policy: FreedPages) {
        TOLD.with(|told| told.borrow_mut().push(policy));
    }

    /// Pages are kept from the start until the walk is over, and given back then or, where the
    /// operation ends first (an error before its walk), when it ends.
    #[test]
    fn freed_pages_are_kept_until_given_back() {
        on_freed_pages(record);
        let told = || TOLD.with(|told| std::mem::take(&mut *told.borrow_mut()));
        told();
        {
            let _kept = KeptFreedPages::start();
            assert_eq!(told(), [FreedPages::Keep]);
            give_back_freed_pages();
            assert_eq!(told(), [FreedPages::GiveBack]);
        }
        // Given back once more (the walk was over already): the same.
        assert_eq!(told(), [FreedPages::GiveBack]);
        drop(KeptFreedPages::start());
        assert_eq!(told(), [FreedPages::Keep, FreedPages::GiveBack]);
    }

    #[test]
    fn everything_handed_over_is_dropped_before_the_freer_is() {
        let dropped = Arc::new(AtomicUsize::new(0));
        {
            let mut freer = Freer::default();
            freer.free(Counted(dropped.clone()), true);
            freer.free(Counted(dropped.clone()), true);
            freer.free(Counted(dropped.clone()), false);
            // The small one went at once.
            assert!(dropped.load(Ordering::SeqCst) >= 1);
        }
        assert_eq!(dropped.load(Ordering::SeqCst), 3);
    }
}
