//! Worker threads that run whole batches, one at a time each, with no synchronisation
//! between them until all batches are done.
//!
//! Each worker is a one-thread rayon pool: candle's matrix products ask rayon for a
//! parallel split, which inside a one-thread pool runs in place, so a forward pass never
//! waits for another thread. Parallelism comes from several batches at once instead, which
//! keeps the speed proportional to the CPU time the process gets on a loaded machine
//! (spinning barriers between threads collapse there).

use std::sync::atomic::{AtomicUsize, Ordering};

pub(super) struct Workers {
    pools: Vec<rayon::ThreadPool>,
}

impl Workers {
    /// `threads` workers (at least one). A pool that cannot start (the system refuses a
    /// thread) is left out; with none, batches run on the calling thread.
    pub(super) fn new(threads: usize) -> Workers {
        let pools = (0..threads.max(1))
            .filter_map(|i| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(1)
                    .thread_name(move |_| format!("agent-memory-embed-{i}"))
                    .build()
                    .ok()
            })
            .collect();
        Workers { pools }
    }

    /// How many workers run batches (at least 1).
    pub(super) fn len(&self) -> usize {
        self.pools.len().max(1)
    }

    /// Runs `job(0)`, …, `job(jobs - 1)`, each on one worker, and returns every result with
    /// its job number (in no particular order), or the first error.
    pub(super) fn run<T, F>(&self, jobs: usize, job: F) -> Result<Vec<(usize, T)>, String>
    where
        T: Send,
        F: Fn(usize) -> Result<T, String> + Sync,
    {
        let next = AtomicUsize::new(0);
        let work = || -> Result<Vec<(usize, T)>, String> {
            let mut done = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= jobs {
                    return Ok(done);
                }
                match job(index) {
                    Ok(result) => done.push((index, result)),
                    Err(e) => {
                        next.store(jobs, Ordering::Relaxed); // the others stop after their batch
                        return Err(e);
                    }
                }
            }
        };
        let used = self.pools.len().min(jobs);
        let results: Vec<Result<Vec<(usize, T)>, String>> = match self.pools.as_slice() {
            [] => vec![work()],
            [only, ..] if used <= 1 => vec![only.install(work)],
            pools => std::thread::scope(|scope| {
                let others: Vec<_> = pools[1..used].iter().map(|pool| scope.spawn(|| pool.install(work))).collect();
                let mut results = vec![pools[0].install(work)];
                results.extend(
                    others.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("an embedding worker panicked".into()))),
                );
                results
            }),
        };
        let mut all = Vec::with_capacity(jobs);
        for result in results {
            all.extend(result?);
        }
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_job_runs_once_on_some_worker() {
        let workers = Workers::new(3);
        assert_eq!(workers.len(), 3);
        let mut done = workers.run(10, |i| Ok(i * i)).unwrap_or_default();
        done.sort_unstable();
        assert_eq!(done, (0..10).map(|i| (i, i * i)).collect::<Vec<_>>());
        assert_eq!(workers.run(0, Ok), Ok(vec![]));
    }

    #[test]
    fn the_first_error_is_returned() {
        let workers = Workers::new(2);
        let result = workers.run(4, |i| if i == 2 { Err(format!("job {i} failed")) } else { Ok(i) });
        assert_eq!(result, Err("job 2 failed".to_owned()));
    }
}
