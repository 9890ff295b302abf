//! A large source's events read on a second thread while the calling one builds the node tree
//! from them: the reading of a command's input is otherwise the longest stretch of a run with one
//! core busy (docs/performance.md, eighth round). The events are exactly those of
//! [`super::events::parser`], handed over in batches (a fixed few, passed back and forth), so the
//! tree built is the one a reading on one thread builds; the tests compare the two.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Mutex;

use granit_parser::Event;

use super::events::{parser, scan_error, EventSpan};
use super::fast::Reading;
use crate::stores::StoreError;

/// Where a source's events are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Threads {
    /// On the calling thread.
    One,
    /// On a second thread while the calling one takes them, when the source is large enough for
    /// it to pay: for the readings made while the other core has nothing to do (a command's
    /// input, a decryption's read-back).
    Two,
    /// On a second thread whatever the source's size (the tests).
    #[cfg(test)]
    TwoAlways,
}

impl Threads {
    /// Whether a source of `len` bytes is read on a second thread too.
    pub(super) fn beside(self, len: usize) -> bool {
        match self {
            Threads::One => false,
            Threads::Two => len >= crate::stores::TWO_THREADS_FROM,
            #[cfg(test)]
            Threads::TwoAlways => true,
        }
    }
}

/// Events per batch handed over.
const BATCH: usize = 512;

/// Batches in use at once: being read into, waiting, being taken from. They are made here and
/// handed back and forth, so that the reading thread allocates none.
const BATCHES: usize = 3;

type Batch<'e> = VecDeque<(Event<'e>, EventSpan)>;

/// One event of a source, or the error that ends them.
pub(super) type Item<'e> = Result<(Event<'e>, EventSpan), StoreError>;

/// The events of a source, read here or on a second thread.
pub(super) enum Events<'e, 'r> {
    Here(Reading<'e>),
    Beside(Beside<'e, 'r>),
}

impl<'e> Iterator for Events<'e, '_> {
    type Item = Item<'e>;

    fn next(&mut self) -> Option<Item<'e>> {
        match self {
            Events::Here(reading) => Some(match reading.next()? {
                Ok(item) => Ok(item),
                Err(e) => Err(scan_error(&e)),
            }),
            Events::Beside(beside) => beside.next(),
        }
    }
}

impl<'e> Events<'e, '_> {
    /// Hand every event to `f`, in order, until the end, an error of the reading (given), or
    /// one of `f`'s: the events taken from the reading in runs, not one at a time (an event is
    /// 160 bytes, and each wrapper it went through copied it). Events read but not handed to
    /// `f` are wiped.
    pub(super) fn for_each_event(
        &mut self,
        mut f: impl FnMut(Event<'e>, &EventSpan) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut run = VecDeque::with_capacity(BATCH);
        let outcome = loop {
            let failed = match self {
                Events::Here(reading) => reading.fill(&mut run, BATCH).map(|e| scan_error(&e)),
                Events::Beside(beside) => match beside.next_batch(&mut run) {
                    Some(Err(e)) => Some(e),
                    _ => None,
                },
            };
            let ended = run.is_empty();
            let mut handed = Ok(());
            while let Some((event, at)) = run.pop_front() {
                handed = f(event, &at);
                if handed.is_err() {
                    break;
                }
            }
            match (handed, failed) {
                (Err(e), _) | (Ok(()), Some(e)) => break Err(e),
                (Ok(()), None) if ended => break Ok(()),
                _ => {}
            }
        };
        run.drain(..).for_each(|(event, _)| wipe(event));
        outcome
    }
}

/// Run `f` on the events of `text`, read where `threads` says. Events read but not taken by the
/// time `f` returns are wiped.
pub(super) fn with_events<'e, R>(
    text: &'e str,
    threads: Threads,
    f: impl FnOnce(Events<'e, '_>) -> R,
) -> R {
    if !threads.beside(text.len()) {
        return f(Events::Here(parser(text)));
    }
    let stop = AtomicBool::new(false);
    let (empty_tx, empty_rx) = channel::<Batch<'e>>();
    for _ in 0..BATCHES {
        let _ = empty_tx.send(VecDeque::with_capacity(BATCH));
    }
    let (full_tx, full_rx) = channel::<Result<Batch<'e>, StoreError>>();
    std::thread::scope(|s| {
        let stop = &stop;
        crate::threads::spawn_scoped(s, move || produce(text, &empty_rx, &full_tx, stop));
        f(Events::Beside(Beside {
            full: &full_rx,
            empty: &empty_tx,
            batch: VecDeque::new(),
            stop,
        }))
    })
}

/// `here` run on the calling thread while `beside` runs on `input` on a second one (or here
/// after `here`, where no thread starts): both outcomes. A panic on the second thread is
/// resumed here.
pub(super) fn here_and_beside<A, T: Send + Default, B: Send>(
    here: impl FnOnce() -> A,
    input: T,
    beside: impl Fn(T) -> B + Sync,
) -> (A, B) {
    // Taken by whichever runs `beside`: the second thread, or this one when none started.
    let input = Mutex::new(Some(input));
    let run = || {
        beside(
            input
                .lock()
                .ok()
                .and_then(|mut i| i.take())
                .unwrap_or_default(),
        )
    };
    std::thread::scope(|scope| {
        let other = crate::threads::try_spawn_scoped(scope, run);
        let done = here();
        let other = match other {
            Ok(thread) => thread
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(_) => run(),
        };
        (done, other)
    })
}

/// The events read on the second thread, as they come.
pub(super) struct Beside<'e, 'r> {
    full: &'r Receiver<Result<Batch<'e>, StoreError>>,
    empty: &'r Sender<Batch<'e>>,
    batch: Batch<'e>,
    stop: &'r AtomicBool,
}

impl<'e> Beside<'e, '_> {
    /// The events of the next batch (all of them, moved into `run`, which is empty), or the error
    /// that ends them; nothing at the end.
    fn next_batch(&mut self, run: &mut Batch<'e>) -> Option<Result<(), StoreError>> {
        loop {
            if !self.batch.is_empty() {
                std::mem::swap(&mut self.batch, run);
                return Some(Ok(()));
            }
            // The reading has ended (its thread is gone) when the channel has.
            match crate::threads::recv_awake(self.full)? {
                Ok(batch) => {
                    let taken = std::mem::replace(&mut self.batch, batch);
                    self.hand_back(taken);
                }
                Err(e) => return Some(Err(e)),
            }
        }
    }

    fn next(&mut self) -> Option<Item<'e>> {
        loop {
            if let Some(event) = self.batch.pop_front() {
                return Some(Ok(event));
            }
            // The reading has ended (its thread is gone) when the channel has.
            match crate::threads::recv_awake(self.full)? {
                Ok(batch) => {
                    let taken = std::mem::replace(&mut self.batch, batch);
                    self.hand_back(taken);
                }
                Err(e) => return Some(Err(e)),
            }
        }
    }

    fn hand_back(&self, batch: Batch<'e>) {
        // The first batch taken replaces one that never held any.
        if batch.capacity() > 0 {
            let _ = self.empty.send(batch);
        }
    }
}

impl Drop for Beside<'_, '_> {
    /// Stop the reading, and wipe what it read that was not taken (every batch is received, so
    /// that none is dropped unwiped in the channel).
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let mut batch = std::mem::take(&mut self.batch);
        loop {
            batch.drain(..).for_each(|(event, _)| wipe(event));
            self.hand_back(batch);
            match self.full.recv() {
                Ok(Ok(next)) => batch = next,
                Ok(Err(_)) => batch = VecDeque::new(),
                Err(_) => return,
            }
        }
    }
}

/// The reading thread: batches of events until the end, an error, or `stop`.
fn produce<'e>(
    text: &'e str,
    empty: &Receiver<Batch<'e>>,
    full: &Sender<Result<Batch<'e>, StoreError>>,
    stop: &AtomicBool,
) {
    let mut events = parser(text);
    while !stop.load(Ordering::Relaxed) {
        // Gone only when the builder is (it panicked).
        let Some(mut batch) = crate::threads::recv_awake(empty) else {
            return;
        };
        let failed = events.fill(&mut batch, BATCH).map(|e| scan_error(&e));
        let last = batch.len() < BATCH;
        if !batch.is_empty() {
            if let Err(unsent) = full.send(Ok(batch)) {
                if let Ok(batch) = unsent.0 {
                    batch.into_iter().for_each(|(event, _)| wipe(event));
                }
                return;
            }
        }
        if let Some(e) = failed {
            let _ = full.send(Err(e));
            return;
        }
        if last {
            return;
        }
    }
}

/// Drop an event that was read but not taken, wiping a copied value (it may be a secret).
fn wipe(event: Event<'_>) {
    if let Event::Scalar(Cow::Owned(mut value), ..) = event {
        zeroize::Zeroize::zeroize(&mut value);
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::parse::read;
    use super::Threads;

    /// The reading on two threads gives what the reading on one gives: the same tree (values
    /// compared), metadata and layout, or the same error.
    pub(in crate::stores::yaml) fn same_on_two_threads(text: &str) {
        same_on_two_threads_lending(text, false);
        same_on_two_threads_lending(text, true);
    }

    /// [`same_on_two_threads`], the data's ciphertexts copied or lent.
    fn same_on_two_threads_lending(text: &str, lend: bool) {
        let read_with = |threads| {
            read(text.as_bytes(), threads, lend).map(|(tree, metadata, l)| {
                let layout = format!(
                    "{:?} {:?} {:?} {} {}",
                    l.spans, l.aliases, l.docs, l.crlf, l.indent
                );
                (tree, metadata, layout)
            })
        };
        match (read_with(Threads::One), read_with(Threads::TwoAlways)) {
            (Ok(one), Ok(two)) => {
                assert!(one.0 == two.0, "trees differ");
                assert!(one.1 == two.1, "metadata differ");
                assert!(one.2 == two.2, "layouts differ");
            }
            (Err(one), Err(two)) => assert_eq!(format!("{one:?}"), format!("{two:?}")),
            (one, two) => panic!("one thread: {:?}, two: {:?}", one.is_ok(), two.is_ok()),
        }
    }

    #[test]
    fn every_corpus_file_reads_alike_on_two_threads() {
        for path in crate::stores::yaml::corpus_yaml_files() {
            if let Ok(text) = std::fs::read_to_string(&path) {
                same_on_two_threads(&text);
            }
        }
    }

    /// Several batches, a decline to granit-parser in the middle, and errors after the first
    /// batches (the reading's own and the tree builder's).
    #[test]
    fn batches_declines_and_errors_read_alike() {
        let mut big = String::new();
        for i in 0..3000 {
            big.push_str(&format!("k{i}:\n  a: 'x{i}\n    y'\n  b: [1, 2]\n  # c\n"));
        }
        same_on_two_threads(&big);
        same_on_two_threads(&format!("{big}anchored: &a 1\nalias: *a\n"));
        same_on_two_threads(&format!("{big}bad: [\n"));
        same_on_two_threads(&format!("{big}\tbad: 1\n"));
        same_on_two_threads(&format!("{big}unknown: *nowhere\n"));
        same_on_two_threads(&format!("{big}- list after a map\n"));
        same_on_two_threads("");
        same_on_two_threads("a: 1\n");
    }
}
