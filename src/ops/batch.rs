//! Many files at once: a bounded pool of worker threads runs one operation per file, keeps going
//! past a failing file, and hands back the results in the order the files were given. A progress
//! callback sees each file as it finishes (the command line draws a progress bar with it).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};

/// How many workers to use: `requested`, else the machine's parallelism (at most 16: the
/// operations wait on key services and disks more than on the processor).
pub fn workers(requested: Option<usize>) -> usize {
    requested
        .filter(|n| *n > 0)
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .min(16)
        })
        .max(1)
}

/// Run `work` on every item with at most `workers` threads; `progress(done, total)` is called on
/// the calling thread after each item. Results come back in the items' order.
pub fn run<T, R, F, P>(items: &[T], workers: usize, work: F, mut progress: P) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync,
    P: FnMut(usize, usize),
{
    let total = items.len();
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<(usize, R)>();
    let slots: Mutex<Vec<Option<R>>> = Mutex::new((0..total).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..workers.clamp(1, total.max(1)) {
            let tx = tx.clone();
            let (next, work) = (&next, &work);
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                if tx.send((i, work(item))).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let mut done = 0;
        for (i, r) in rx {
            done += 1;
            if let Ok(mut s) = slots.lock() {
                s[i] = Some(r);
            }
            progress(done, total);
        }
    });
    slots
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .flatten()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_the_order_and_progress_counts_every_item() {
        let items: Vec<u64> = (0..50).collect();
        let mut seen = Vec::new();
        let out = run(
            &items,
            4,
            |n| {
                std::thread::sleep(std::time::Duration::from_millis(50 - n));
                n * 2
            },
            |done, total| seen.push((done, total)),
        );
        assert_eq!(out, items.iter().map(|n| n * 2).collect::<Vec<_>>());
        assert_eq!(seen.len(), 50);
        assert_eq!(seen.last(), Some(&(50, 50)));
    }

    #[test]
    fn no_items_no_threads() {
        let out: Vec<u8> = run(&[] as &[u8], 8, |b| *b, |_, _| panic!("no progress"));
        assert!(out.is_empty());
        assert_eq!(workers(Some(3)), 3);
        assert!(workers(None) >= 1);
    }
}
