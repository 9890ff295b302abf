//! The cipher walk's batches on every processor: a batch's jobs are claimed a chunk at a time by
//! whichever thread is free, the worker threads (one fewer than the processors, started with
//! the walk and kept for it) and the walk's own thread, which plans the next batch while the
//! workers run this one, then takes this one's outcomes in walk order and runs the chunks no
//! worker has claimed yet. No processor waits for a share fixed in advance, and no more threads
//! run than there are processors.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard, PoisonError};

use super::hands::Hands;
use super::jobs::{take, Batch, Finish, Job, Outcomes, Shared, PARALLEL_MIN};
use super::WalkError;
use crate::crypto::mac::MacHasher;

/// Jobs claimed at a time: a few tens of microseconds of work, so that the walk's own thread
/// waits for a worker's chunk only that long, and a claim's cost is lost in it.
const CHUNK: usize = 64;

/// A batch being run: its chunks are claimed in order, each run by the thread that claimed it,
/// and their outcomes left here until the walk's own thread takes them.
struct Run<'t> {
    batch: Batch<'t>,
    /// The next chunk to claim (past the last one once every chunk is claimed).
    next: AtomicUsize,
    done: Mutex<Done>,
    /// Told when a chunk is done, or a worker stopped.
    ready: Condvar,
}

/// The outcomes of a run's chunks that are done and not yet taken.
struct Done {
    outcomes: Vec<Option<Outcomes>>,
    /// A worker stopped (it panicked) with a chunk it had claimed.
    stopped: bool,
    /// The walk's own thread sleeps until a chunk is done (it is told, else nobody is).
    waiting: bool,
}

impl<'t> Run<'t> {
    fn new(batch: Batch<'t>) -> Self {
        let chunks = batch.jobs.len().div_ceil(CHUNK);
        Run {
            batch,
            next: AtomicUsize::new(0),
            done: Mutex::new(Done {
                outcomes: (0..chunks).map(|_| None).collect(),
                stopped: false,
                waiting: false,
            }),
            ready: Condvar::new(),
        }
    }

    fn chunks(&self) -> usize {
        self.batch.jobs.len().div_ceil(CHUNK)
    }

    fn jobs(&self, chunk: usize) -> &[Job<'t>] {
        let jobs = &self.batch.jobs;
        let start = (chunk * CHUNK).min(jobs.len());
        &jobs[start..(start + CHUNK).min(jobs.len())]
    }

    /// The next chunk no thread has claimed, now claimed by the caller.
    fn claim(&self) -> Option<usize> {
        let chunk = self.next.fetch_add(1, Ordering::Relaxed);
        (chunk < self.chunks()).then_some(chunk)
    }

    /// Run `chunk` (claimed by the caller) with `hands`.
    fn run(&self, chunk: usize, hands: &mut Hands<'_>) -> Outcomes {
        hands.work(self.jobs(chunk), &self.batch.aads)
    }

    fn lock(&self) -> MutexGuard<'_, Done> {
        // A thread that panicked while holding the lock left the outcomes as they were.
        self.done.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn put(&self, chunk: usize, outcomes: Outcomes) {
        let waiting = {
            let mut done = self.lock();
            if let Some(slot) = done.outcomes.get_mut(chunk) {
                *slot = Some(outcomes);
            }
            done.waiting
        };
        // A wake-up is a system call: made only for a thread that sleeps.
        if waiting {
            self.ready.notify_all();
        }
    }

    /// The outcomes of `chunk`, if it is done.
    fn done(&self, chunk: usize) -> Option<Outcomes> {
        self.lock().outcomes.get_mut(chunk).and_then(Option::take)
    }

    /// Wait for the outcomes of `chunk`, which a worker claimed; `None` when a worker stopped.
    /// A chunk is a few tens of microseconds of work: the wait polls before it sleeps
    /// ([`crate::threads::poll_awake`]).
    fn wait_for(&self, chunk: usize) -> Option<Outcomes> {
        let poll = || {
            let mut done = self.lock();
            match done.outcomes.get_mut(chunk).and_then(Option::take) {
                Some(outcomes) => Some(Some(outcomes)),
                None if done.stopped || chunk >= done.outcomes.len() => Some(None),
                None => None,
            }
        };
        crate::threads::poll_awake(poll, || self.sleep_for(chunk))
    }

    /// [`Run::wait_for`], sleeping until a chunk is done.
    fn sleep_for(&self, chunk: usize) -> Option<Outcomes> {
        let mut done = self.lock();
        loop {
            if let Some(outcomes) = done.outcomes.get_mut(chunk).and_then(Option::take) {
                done.waiting = false;
                return Some(outcomes);
            }
            if done.stopped || chunk >= done.outcomes.len() {
                done.waiting = false;
                return None;
            }
            done.waiting = true;
            done = self
                .ready
                .wait(done)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Marks a run as stopped when the worker running it panics (dropped while unwinding), so that
/// the walk's own thread does not wait for a chunk that will never be done.
struct StopOnPanic<'r, 't>(&'r Run<'t>);

impl Drop for StopOnPanic<'_, '_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.lock().stopped = true;
            self.0.ready.notify_all();
        }
    }
}

/// Runs each batch on every processor while the walk plans the next one, and takes the
/// outcomes in walk order.
pub(super) struct Pipeline<'env, 't> {
    /// The walk's own thread's means to run jobs.
    hands: Hands<'env>,
    /// Each worker's inbox of runs (none for a small walk, or on one processor).
    workers: Vec<mpsc::Sender<Arc<Run<'t>>>>,
    /// The run handed to the workers and not yet taken.
    in_flight: Option<Arc<Run<'t>>>,
}

impl<'env, 't> Pipeline<'env, 't> {
    /// The pipeline of a walk of `leaves` values: workers are started now when there are enough
    /// values to share (while the first batch is planned), one fewer than the processors.
    pub(super) fn new<'scope>(
        scope: &'scope std::thread::Scope<'scope, 'env>,
        shared: &'env Shared<'env>,
        leaves: usize,
    ) -> Self
    where
        't: 'scope,
    {
        let workers = if leaves < PARALLEL_MIN {
            0
        } else {
            // Asked only here: it reads the cgroup files under /proc.
            std::thread::available_parallelism().map_or(1, |n| n.get().min(8)) - 1
        };
        Pipeline {
            hands: Hands::new(shared),
            workers: (0..workers).map(|_| start_worker(scope, shared)).collect(),
            in_flight: None,
        }
    }

    /// Whether batches are shared with worker threads.
    pub(super) fn is_shared(&self) -> bool {
        !self.workers.is_empty()
    }

    /// Start `batch`: handed to the workers, then the batch before it (if any) is taken, its
    /// unclaimed chunks run here; without workers, the batch is run and taken right here.
    pub(super) fn submit(
        &mut self,
        batch: Batch<'t>,
        mac: &mut MacHasher,
        finish: &mut Finish<'_>,
    ) -> Result<(), WalkError> {
        if self.workers.is_empty() {
            let outcomes = self.hands.work(&batch.jobs, &batch.aads);
            return take(&batch.jobs, &batch.aads, outcomes, mac, finish);
        }
        let run = Arc::new(Run::new(batch));
        for worker in &self.workers {
            // A worker that stopped (it panicked: its panic is the scope's at its end) has
            // marked the run it had as stopped.
            let _ = worker.send(Arc::clone(&run));
        }
        match self.in_flight.replace(run) {
            Some(before) => self.take_run(&before, mac, finish),
            None => Ok(()),
        }
    }

    /// Take the outcomes of the batch on worker threads, if any.
    pub(super) fn drain(
        &mut self,
        mac: &mut MacHasher,
        finish: &mut Finish<'_>,
    ) -> Result<(), WalkError> {
        match self.in_flight.take() {
            Some(run) => self.take_run(&run, mac, finish),
            None => Ok(()),
        }
    }

    /// Take the outcomes of `run` chunk by chunk in walk order; a chunk not done yet is waited
    /// for only when no chunk is left to claim and run here meanwhile.
    fn take_run(
        &mut self,
        run: &Run<'t>,
        mac: &mut MacHasher,
        finish: &mut Finish<'_>,
    ) -> Result<(), WalkError> {
        for chunk in 0..run.chunks() {
            let outcomes = loop {
                if let Some(outcomes) = run.done(chunk) {
                    break outcomes;
                }
                match run.claim() {
                    Some(c) if c == chunk => break run.run(c, &mut self.hands),
                    Some(c) => {
                        let outcomes = run.run(c, &mut self.hands);
                        run.put(c, outcomes);
                    }
                    None => match run.wait_for(chunk) {
                        Some(outcomes) => break outcomes,
                        // The worker's panic is the scope's when it ends.
                        None => std::panic::resume_unwind(Box::new(
                            "a thread of the cipher walk stopped",
                        )),
                    },
                }
            };
            take(run.jobs(chunk), &run.batch.aads, outcomes, mac, finish)?;
        }
        Ok(())
    }
}

/// A worker thread: it runs the chunks it claims of each run it is handed, in the order it was
/// handed them, until its inbox is closed.
fn start_worker<'scope, 'env, 't: 'scope>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    shared: &'env Shared<'env>,
) -> mpsc::Sender<Arc<Run<'t>>> {
    let (runs, inbox) = mpsc::channel::<Arc<Run<'t>>>();
    crate::threads::spawn_scoped(scope, move || {
        let mut hands = Hands::new(shared);
        // The next run is handed on while the walk's own thread plans it: waited for awake.
        while let Some(run) = crate::threads::recv_awake(&inbox) {
            let _stop = StopOnPanic(&run);
            while let Some(chunk) = run.claim() {
                let outcomes = run.run(chunk, &mut hands);
                run.put(chunk, outcomes);
            }
        }
    });
    runs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::walk::jobs::{Aads, Outcome};

    /// A run of `n` jobs that only hash a text (no key needed to run them).
    fn run_of(n: usize) -> Run<'static> {
        Run::new(Batch {
            jobs: (0..n).map(|_| Job::HashText("x")).collect(),
            aads: Aads::default(),
        })
    }

    #[test]
    fn chunks_are_claimed_once_each_in_order() {
        let run = run_of(3 * CHUNK + 1);
        assert_eq!(run.chunks(), 4);
        let claims: Vec<_> = std::iter::from_fn(|| run.claim()).collect();
        assert_eq!(claims, [0, 1, 2, 3]);
        assert_eq!(run.claim(), None);
        assert_eq!(run.jobs(0).len(), CHUNK);
        assert_eq!(run.jobs(3).len(), 1);
        assert!(run.jobs(4).is_empty());
        assert_eq!(run_of(0).chunks(), 0);
    }

    #[test]
    fn outcomes_put_by_one_thread_are_taken_once_by_another() {
        let run = run_of(2 * CHUNK);
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(std::time::Duration::from_millis(20));
                run.put(1, vec![Ok(Outcome::Hash)]);
            });
            assert!(run.done(1).is_none());
            assert_eq!(run.wait_for(1).map(|o| o.len()), Some(1));
        });
        assert!(run.done(1).is_none(), "taken once");
        assert!(run.done(7).is_none());
    }

    #[test]
    fn a_worker_that_panics_with_a_claimed_chunk_does_not_leave_the_walk_waiting() {
        let run = run_of(2 * CHUNK);
        let claimed = std::thread::scope(|s| {
            s.spawn(|| {
                let _stop = StopOnPanic(&run);
                let chunk = run.claim();
                panic!("a worker stops with chunk {chunk:?}");
            })
            .join()
        });
        assert!(claimed.is_err());
        assert_eq!(run.wait_for(0).map(|o| o.len()), None);
    }
}
