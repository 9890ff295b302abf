//! Threads that start on another processor than the thread that starts them, and waits for
//! another thread that keep the waiting thread on its own processor.
//!
//! The threads that work beside a busy one (a cipher worker, the second half of a reading or a
//! splice, the output check's independent reading, the shape digest) start here. Linux may
//! queue a new thread on its parent's processor and leave it there until that processor's next
//! scheduler tick, up to 4 ms later, while another processor idles, or run it there and leave
//! the parent waiting as long: measured on a 2-processor machine, in a 5 ms window after the
//! start the two threads got 6.6 to 6.9 ms of processor time of 10. Here the parent lets the new
//! thread run first (a yield), and the new thread, when it finds itself on its parent's
//! processor, moves itself to the others and gives itself back every processor the process may
//! use: both then ran at once from 0.05 ms on (9.7 ms of 10).
//!
//! A thread that sleeps and is woken by a thread that goes on working is moved the same way:
//! Linux wakes it on the waker's processor (the two share a cache) and queues it there behind
//! the waker. A cipher worker that waited 50 µs for the walk's first batch was woken there and
//! ran 3-4 ms later, in a third of the JSON 10,000-value encryptions (the walk 5.1-5.8 ms
//! instead of 3.9). Hand-offs between busy threads therefore wait with [`poll_awake`], which
//! keeps the waiting thread on its processor for a short while instead of sleeping.

use std::thread::{JoinHandle, Scope, ScopedJoinHandle};
use std::time::{Duration, Instant};

/// Start `f` on a thread of `scope` as [`std::thread::Scope::spawn`] does (which panics when
/// the system starts no thread), away from the caller's processor where the process may use
/// another.
pub fn spawn_scoped<'scope, 'env, F, T>(
    scope: &'scope Scope<'scope, 'env>,
    f: F,
) -> ScopedJoinHandle<'scope, T>
where
    F: FnOnce() -> T + Send + 'scope,
    T: Send + 'scope,
{
    try_spawn_scoped(scope, f).unwrap_or_else(|e| panic!("failed to spawn thread: {e}"))
}

/// [`spawn_scoped`] as [`std::thread::Builder::spawn_scoped`]: an error when the system starts
/// no thread. Where the placement cannot be asked for (another system, one processor, a mask
/// that cannot be read), the thread stays where the scheduler puts it.
pub fn try_spawn_scoped<'scope, 'env, F, T>(
    scope: &'scope Scope<'scope, 'env>,
    f: F,
) -> std::io::Result<ScopedJoinHandle<'scope, T>>
where
    F: FnOnce() -> T + Send + 'scope,
    T: Send + 'scope,
{
    let handle = std::thread::Builder::new().spawn_scoped(scope, placed(f))?;
    std::thread::yield_now();
    Ok(handle)
}

/// [`try_spawn_scoped`] for a thread that is not scoped ([`std::thread::Builder::spawn`]).
pub fn try_spawn<F, T>(f: F) -> std::io::Result<JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let handle = std::thread::Builder::new().spawn(placed(f))?;
    std::thread::yield_now();
    Ok(handle)
}

/// `f`, run after its thread has moved off the calling thread's processor if it starts there.
fn placed<F, T>(f: F) -> impl FnOnce() -> T
where
    F: FnOnce() -> T,
{
    let parent = place::Here::now();
    move || {
        if let Some(parent) = parent {
            parent.leave();
        }
        f()
    }
}

/// A processor a thread ran on: a thread that thread wakes, and that may be queued behind it
/// there, moves itself off it ([`Processor::leave`]).
pub struct Processor(place::Here);

impl Processor {
    /// The calling thread's processor; `None` where it cannot be told.
    pub fn current() -> Option<Processor> {
        place::Here::now().map(Processor)
    }

    /// Move the calling thread off this processor if it runs there, to the others the process
    /// may use (it keeps every processor for later).
    pub fn leave(&self) {
        self.0.leave();
    }
}

/// How long [`poll_awake`] asks before it sleeps: longer than a busy thread takes to hand on the
/// next piece of work (the cipher walk's planning of a batch: well under a millisecond), short
/// enough that a thread left waiting for long soon gives its processor up.
const AWAKE_FOR: Duration = Duration::from_millis(2);

/// Polls between two yields of the processor in [`poll_awake`] (each poll is followed by a
/// pause hint): the yield lets another thread queued on this processor run.
const POLLS_PER_YIELD: u32 = 64;

/// Wait for what `poll` gives without sleeping, for a hand-off from a thread that goes on
/// working: `poll` is asked again and again (a pause hint between, the processor yielded now
/// and then) for up to 2 ms (`AWAKE_FOR`), then `block` waits, sleeping. A thread that sleeps may be
/// woken on its waker's processor and queued behind it (the module's header); one that polls
/// stays where it runs.
pub fn poll_awake<T>(mut poll: impl FnMut() -> Option<T>, block: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let mut polls = 0u32;
    loop {
        if let Some(value) = poll() {
            return value;
        }
        polls = polls.wrapping_add(1);
        if polls.is_multiple_of(POLLS_PER_YIELD) {
            if start.elapsed() >= AWAKE_FOR {
                return block();
            }
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

/// The next message of `channel` ([`poll_awake`]); `None` once its senders are gone.
pub fn recv_awake<T>(channel: &std::sync::mpsc::Receiver<T>) -> Option<T> {
    use std::sync::mpsc::TryRecvError;
    let poll = || match channel.try_recv() {
        Ok(message) => Some(Some(message)),
        Err(TryRecvError::Empty) => None,
        Err(TryRecvError::Disconnected) => Some(None),
    };
    poll_awake(poll, || channel.recv().ok())
}

#[cfg(target_os = "linux")]
mod place {
    /// A processor and the processors the process may use.
    pub(super) struct Here {
        cpu: usize,
        all: libc::cpu_set_t,
    }

    impl Here {
        /// The processor.
        #[cfg(test)]
        pub(super) fn cpu(&self) -> i32 {
            self.cpu as i32
        }

        /// The caller's processor; `None` where it, or the caller's mask, cannot be read.
        pub(super) fn now() -> Option<Here> {
            // SAFETY: `cpu_set_t` is plain bits (all zero is the empty set);
            // `sched_getaffinity` writes at most `size_of::<cpu_set_t>()` bytes into it.
            unsafe {
                let mut all: libc::cpu_set_t = std::mem::zeroed();
                let cpu = usize::try_from(libc::sched_getcpu()).ok()?;
                let size = std::mem::size_of::<libc::cpu_set_t>();
                (libc::sched_getaffinity(0, size, &mut all) == 0).then_some(Here { cpu, all })
            }
        }

        /// Move the calling thread off this processor, to the others of the mask, and give it
        /// the whole mask back (it stays where it was moved); nothing when it runs elsewhere
        /// already, or there is no other processor.
        pub(super) fn leave(&self) {
            // SAFETY: as in `now`; 0 names the calling thread, and the masks are whole.
            unsafe {
                if usize::try_from(libc::sched_getcpu()).ok() != Some(self.cpu) {
                    return;
                }
                let mut others = self.all;
                libc::CPU_CLR(self.cpu, &mut others);
                if libc::CPU_COUNT(&others) == 0 {
                    return;
                }
                let size = std::mem::size_of::<libc::cpu_set_t>();
                if libc::sched_setaffinity(0, size, &others) == 0 {
                    libc::sched_setaffinity(0, size, &self.all);
                }
            }
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod place_tests {
    use super::place::Here;

    #[test]
    fn a_thread_that_leaves_a_processor_runs_on_another_with_its_whole_mask() {
        // SAFETY: `sched_getcpu` takes nothing.
        let cpu = || unsafe { libc::sched_getcpu() };
        let before = super::tests::mask();
        let here = Here::now().unwrap();
        let started_on = cpu();
        here.leave();
        assert_eq!(super::tests::mask(), before, "the whole mask is given back");
        if before.len() > 1 && started_on == here.cpu() {
            assert_ne!(cpu(), started_on, "moved off the processor it was on");
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod place {
    /// Elsewhere the scheduler places the thread.
    pub(super) struct Here;

    impl Here {
        pub(super) fn now() -> Option<Here> {
            None
        }
        pub(super) fn leave(&self) {}
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The processors the calling thread may use.
    pub(super) fn mask() -> Vec<usize> {
        // SAFETY: as in `place::Here::now`.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            assert_eq!(
                libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set),
                0
            );
            (0..libc::CPU_SETSIZE as usize)
                .filter(|&c| libc::CPU_ISSET(c, &set))
                .collect()
        }
    }

    #[test]
    fn a_thread_runs_with_every_processor_of_its_parent_and_gives_back_its_value() {
        let before = mask();
        let (seen, value) = std::thread::scope(|s| spawn_scoped(s, || (mask(), 42)).join())
            .unwrap_or_else(|_| panic!("the thread panicked"));
        assert_eq!(value, 42);
        assert_eq!(seen, before);
        assert_eq!(mask(), before, "the caller's own mask is left alone");
    }

    #[test]
    fn a_wait_takes_what_is_handed_on_while_it_polls_and_sleeps_only_after_polling() {
        // Handed on at the tenth poll: `block` is never called.
        let mut polls = 0;
        let got = poll_awake(
            || {
                polls += 1;
                (polls == 10).then_some("polled")
            },
            || "slept",
        );
        assert_eq!((got, polls), ("polled", 10));
        // Nothing handed on: the wait ends in `block`, once the polling time is over.
        let start = Instant::now();
        assert_eq!(poll_awake(|| None, || "slept"), "slept");
        assert!(start.elapsed() >= AWAKE_FOR);
    }

    #[test]
    fn many_threads_at_once_each_get_the_whole_mask_back() {
        let before = mask();
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..8).map(|_| spawn_scoped(s, mask)).collect();
            for h in handles {
                assert_eq!(h.join().unwrap_or_default(), before);
            }
        });
    }
}
