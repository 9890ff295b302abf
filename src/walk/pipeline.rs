//! The cipher walk's batches on worker threads: each full batch is shared among workers that
//! live as long as the walk (started with the first batch that is large enough), handed to them
//! before the batch before it is taken, so that they run while the walk's own thread takes
//! outcomes and plans the next batch.

use std::sync::{mpsc, Arc};

use super::jobs::{take, work, Batch, Finish, Outcomes, Shared, PARALLEL_MIN};
use super::WalkError;
use crate::crypto::mac::MacHasher;

/// A worker thread's share of a batch: its jobs from `start` to `end`.
struct Share<'t> {
    batch: Arc<Batch<'t>>,
    start: usize,
    end: usize,
}

/// A worker thread of the walk, started with its first batch and kept for the walk's later ones
/// (its allocator's pages stay warm, and no thread is started per batch): it takes shares and
/// gives back their outcomes, in the order it took them, until its sender is dropped.
struct Worker<'t> {
    shares: mpsc::Sender<Share<'t>>,
    outcomes: mpsc::Receiver<Outcomes>,
}

/// Runs each full batch on worker threads while the walk plans the next one, and takes the
/// outcomes in walk order.
pub(super) struct Pipeline<'scope, 'env, 't> {
    scope: &'scope std::thread::Scope<'scope, 'env>,
    shared: &'env Shared<'env>,
    /// Asked once a batch is large enough to share (it reads the cgroup files under /proc).
    threads: Option<usize>,
    workers: Vec<Worker<'t>>,
    /// The batch on the workers, and how many of them have a share of it.
    in_flight: Option<(Arc<Batch<'t>>, usize)>,
}

impl<'scope, 'env, 't: 'scope> Pipeline<'scope, 'env, 't> {
    pub(super) fn new(
        scope: &'scope std::thread::Scope<'scope, 'env>,
        shared: &'env Shared<'env>,
    ) -> Self {
        Pipeline {
            scope,
            shared,
            threads: None,
            workers: Vec::new(),
            in_flight: None,
        }
    }

    /// Start `batch`: on worker threads when it is large enough (then the batch before it, if
    /// any, is taken while they run this one), else right here (after taking the one before).
    pub(super) fn submit(
        &mut self,
        batch: Batch<'t>,
        mac: &mut MacHasher,
        finish: &mut Finish<'_>,
    ) -> Result<(), WalkError> {
        let threads = if batch.jobs.len() < PARALLEL_MIN {
            1
        } else {
            *self.threads.get_or_insert_with(|| {
                std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
            })
        };
        if threads < 2 {
            self.drain(mac, finish)?;
            let outcomes = work(&batch.jobs, &batch.aads, self.shared);
            return take(&batch, outcomes, mac, finish);
        }
        let batch = Arc::new(batch);
        let per = batch.jobs.len().div_ceil(threads);
        let mut shares = 0;
        for (n, start) in (0..batch.jobs.len()).step_by(per).enumerate() {
            if n == self.workers.len() {
                self.workers.push(self.start_worker());
            }
            let share = Share {
                batch: Arc::clone(&batch),
                start,
                end: (start + per).min(batch.jobs.len()),
            };
            // A worker that stopped (it panicked: its panic is the scope's at its end) is
            // missed when its outcomes are taken.
            let _ = self.workers[n].shares.send(share);
            shares += 1;
        }
        // Each worker runs its shares in the order it was given them: the batch before this one
        // is taken here while the workers go on with this one (taking it with the workers
        // idle left a third of the walk's time on both cores unused).
        match self.in_flight.replace((batch, shares)) {
            Some(before) => self.take_from_workers(before, mac, finish),
            None => Ok(()),
        }
    }

    fn start_worker(&self) -> Worker<'t> {
        let (shares, inbox) = mpsc::channel::<Share<'t>>();
        let (outbox, outcomes) = mpsc::channel();
        let shared = self.shared;
        self.scope.spawn(move || {
            for share in inbox {
                let outcomes = work(
                    &share.batch.jobs[share.start..share.end],
                    &share.batch.aads,
                    shared,
                );
                drop(share);
                if outbox.send(outcomes).is_err() {
                    break;
                }
            }
        });
        Worker { shares, outcomes }
    }

    /// Take the outcomes of the batch on worker threads, if any, when they are done.
    pub(super) fn drain(
        &mut self,
        mac: &mut MacHasher,
        finish: &mut Finish<'_>,
    ) -> Result<(), WalkError> {
        match self.in_flight.take() {
            Some(batch) => self.take_from_workers(batch, mac, finish),
            None => Ok(()),
        }
    }

    /// Take the outcomes of `batch`, shared among the first `shares` workers, in walk order.
    fn take_from_workers(
        &self,
        (batch, shares): (Arc<Batch<'t>>, usize),
        mac: &mut MacHasher,
        finish: &mut Finish<'_>,
    ) -> Result<(), WalkError> {
        // Each worker's outcomes are taken where they are, in share order (never gathered into
        // one more array).
        let outcomes = self.workers[..shares].iter().flat_map(|w| {
            w.outcomes.recv().unwrap_or_else(|_| {
                // Its thread panicked; the scope reports that panic when it ends.
                std::panic::resume_unwind(Box::new("a thread of the cipher walk stopped"))
            })
        });
        take(&batch, outcomes, mac, finish)
    }
}
