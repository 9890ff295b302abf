//! Writing an encrypted output while the encryption finishes. Once both readings of the check
//! have found the output accounted for, what is left (whether the output needs a layout record,
//! freeing and wiping what the run held) does not change what may be written, only, where a
//! record is needed, which bytes: so the output is written then, on a thread of its own, beside
//! the rest, and taken back if the encryption ends with other bytes or an error. Only a
//! destination that can take a write back ([`EarlyOutput`]) is written early; nothing that
//! failed the check ever is.
//!
//! A 200,000-value YAML encryption's output is 29 MB, and its copy into a file's pages took 45
//! ms of a 440 ms run on one core while the other waited (docs/performance.md, twenty-first
//! round).

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;

/// A destination that an operation may write to before it returns, and take the write back from.
pub trait EarlyOutput: Send + Sync {
    /// Write `bytes` (an output that passed the accounted-for check) as the whole output, so that
    /// [`EarlyOutput::take_back`] can undo it. `false`: nothing was written (the destination
    /// cannot take a write back, or the write failed and was taken back; the destination keeps
    /// the error for whoever writes the output at the end).
    fn write_early(&self, bytes: &[u8]) -> bool;
    /// Undo what [`EarlyOutput::write_early`] wrote. Called when the operation ends with other
    /// bytes, or with an error.
    fn take_back(&self);
}

/// Outputs smaller than this are written at the end, as they always were (a thread costs more
/// than the copy).
pub const EARLY_MIN: usize = if cfg!(test) { 1 } else { 256 * 1024 };

/// Where the two readings of the check stand: each passes once, or one fails.
#[derive(Default)]
pub(crate) struct Gate {
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Default)]
struct GateState {
    passed: u8,
    failed: bool,
    /// The processor of the reading that passed second, when that thread goes on working
    /// ([`Gate::tell_going_on`]).
    opened_on: Option<crate::threads::Processor>,
}

impl Gate {
    /// One reading found the output accounted for.
    fn pass(&self) {
        self.update(|s| s.passed = s.passed.saturating_add(1));
    }

    /// One reading did not (or the operation ends before the write starts): the write never does.
    fn fail(&self) {
        self.update(|s| s.failed = true);
    }

    /// The operation ends: a write that both passes have not started never starts.
    fn close(&self) {
        self.update(|s| s.failed |= s.passed < 2);
    }

    /// Tell each reading's verdict, as [`Gate::pass`] or [`Gate::fail`].
    pub(crate) fn tell(&self, passed: bool) {
        if passed {
            self.pass();
        } else {
            self.fail();
        }
    }

    /// [`Gate::tell`] from a thread that goes on working. Linux may wake the writer on this
    /// thread's processor and queue it there behind it (`crate::threads`): a JSON 10,000-value
    /// encryption's output waited there 1-2 ms, then was written after the rest while the other
    /// processor idled. When this pass opens the gate, the writer is told to move off this
    /// processor, and this thread yields it for a moment so that a writer queued behind it can.
    pub(crate) fn tell_going_on(&self, passed: bool) {
        let mut opened = false;
        self.update(|s| {
            if passed {
                s.passed = s.passed.saturating_add(1);
                if s.passed == 2 && !s.failed {
                    s.opened_on = crate::threads::Processor::current();
                    opened = s.opened_on.is_some();
                }
            } else {
                s.failed = true;
            }
        });
        if opened {
            std::thread::yield_now();
        }
    }

    fn update(&self, change: impl FnOnce(&mut GateState)) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        change(&mut state);
        self.changed.notify_all();
    }

    /// How many readings passed so far.
    #[cfg(test)]
    pub(crate) fn passes(&self) -> u8 {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .passed
    }

    /// Wait until both readings passed (`true`) or one failed (`false`). Passed, the caller is
    /// moved off the processor of a reading that opened the gate and goes on working.
    fn wait(&self) -> bool {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if state.failed {
                return false;
            }
            if state.passed >= 2 {
                let opened_on = state.opened_on.take();
                drop(state);
                if let Some(processor) = opened_on {
                    processor.leave();
                }
                return true;
            }
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// An encrypted output being checked, and written early once its check passes.
pub(crate) struct EarlyWrite {
    bytes: Arc<Vec<u8>>,
    gate: Arc<Gate>,
    writer: Option<(Arc<dyn EarlyOutput>, JoinHandle<bool>)>,
}

impl EarlyWrite {
    /// Hold `bytes`; where `to` is given and the output is large enough, a thread waits for the
    /// gate to write them there.
    pub(crate) fn start(bytes: Vec<u8>, to: Option<&Arc<dyn EarlyOutput>>) -> Self {
        let bytes = Arc::new(bytes);
        let gate = Arc::new(Gate::default());
        let writer = to.filter(|_| bytes.len() >= EARLY_MIN).and_then(|to| {
            let (to_thread, bytes, gate) = (to.clone(), bytes.clone(), gate.clone());
            let write = move || gate.wait() && to_thread.write_early(&bytes);
            // Where no thread starts, the output is written at the end. Started off this
            // processor, so that it sleeps, and is woken, where this thread does not run.
            let thread = crate::threads::try_spawn(write).ok()?;
            Some((to.clone(), thread))
        });
        EarlyWrite {
            bytes,
            gate,
            writer,
        }
    }

    /// The gate the two readings pass.
    pub(crate) fn gate(&self) -> &Gate {
        &self.gate
    }

    /// The output.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The output, to lend for a moment: an early write is stopped (and taken back) first.
    pub(crate) fn bytes_mut(&mut self) -> &mut Vec<u8> {
        self.stop(false);
        // The writer is gone, so this is the only holder and nothing is copied.
        Arc::make_mut(&mut self.bytes)
    }

    /// The output as the operation's result: an early write of it stays.
    pub(crate) fn keep(mut self) -> Vec<u8> {
        self.stop(true);
        let bytes = std::mem::take(&mut self.bytes);
        Arc::try_unwrap(bytes).unwrap_or_else(|shared| shared.as_ref().clone())
    }

    /// Wait for the writer (which does not start writing from here on); an early write is taken
    /// back unless `keep`.
    fn stop(&mut self, keep: bool) {
        if keep {
            self.gate.close();
        } else {
            self.gate.fail();
        }
        if let Some((to, thread)) = self.writer.take() {
            // A writer that panicked wrote nothing it did not take back, or its write is taken
            // back here.
            let written = thread.join().unwrap_or(true);
            if written && !keep {
                to.take_back();
            }
        }
    }
}

impl Drop for EarlyWrite {
    /// An operation that ends with an error (or other bytes) takes the early write back.
    fn drop(&mut self) {
        self.stop(false);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Records what was written early and whether it was taken back.
    #[derive(Default)]
    pub(crate) struct Recorder {
        pub(crate) written: Mutex<Option<Vec<u8>>>,
        pub(crate) taken_back: Mutex<bool>,
        /// Refuse every early write (as a pipe does).
        pub(crate) refuse: bool,
    }

    impl EarlyOutput for Recorder {
        fn write_early(&self, bytes: &[u8]) -> bool {
            if self.refuse {
                return false;
            }
            *self.written.lock().unwrap() = Some(bytes.to_vec());
            true
        }

        fn take_back(&self) {
            *self.taken_back.lock().unwrap() = true;
        }
    }

    impl Recorder {
        /// What an early write left: the bytes written and not taken back.
        pub(crate) fn kept(&self) -> Option<Vec<u8>> {
            if *self.taken_back.lock().unwrap() {
                return None;
            }
            self.written.lock().unwrap().clone()
        }
    }

    fn started(recorder: &Arc<Recorder>) -> EarlyWrite {
        let to: Arc<dyn EarlyOutput> = recorder.clone();
        EarlyWrite::start(b"ENC[...]".to_vec(), Some(&to))
    }

    #[test]
    fn written_once_both_readings_pass_and_kept() {
        let recorder = Arc::new(Recorder::default());
        let early = started(&recorder);
        early.gate().pass();
        early.gate().pass();
        assert_eq!(early.keep(), b"ENC[...]");
        assert_eq!(recorder.kept().as_deref(), Some(&b"ENC[...]"[..]));
    }

    #[test]
    fn never_written_when_one_reading_fails_or_only_one_passed() {
        for verdicts in [&[true, false][..], &[false, true], &[true], &[]] {
            let recorder = Arc::new(Recorder::default());
            let early = started(&recorder);
            for passed in verdicts {
                early.gate().tell(*passed);
            }
            // An error of the operation drops it.
            drop(early);
            assert!(recorder.written.lock().unwrap().is_none(), "{verdicts:?}");
        }
    }

    #[test]
    fn taken_back_when_the_operation_ends_otherwise() {
        let recorder = Arc::new(Recorder::default());
        let mut early = started(&recorder);
        early.gate().pass();
        early.gate().pass();
        // Once written (the writer runs on its own thread)...
        let since = std::time::Instant::now();
        while recorder.written.lock().unwrap().is_none() {
            assert!(since.elapsed().as_secs() < 60, "never written");
            std::thread::yield_now();
        }
        // ...lent out (so possibly changed): the write is stopped and taken back first.
        early.bytes_mut().push(b'!');
        assert!(*recorder.taken_back.lock().unwrap());
        assert_eq!(recorder.kept(), None);
        assert_eq!(early.keep(), b"ENC[...]!");
    }

    #[test]
    fn a_refused_write_is_not_taken_back() {
        let recorder = Arc::new(Recorder {
            refuse: true,
            ..Recorder::default()
        });
        let early = started(&recorder);
        early.gate().pass();
        early.gate().pass();
        drop(early);
        assert!(!*recorder.taken_back.lock().unwrap());
    }
}
