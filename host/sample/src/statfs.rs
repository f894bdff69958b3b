//! Filesystem capacity, off the request path and under a deadline.
//!
//! A statfs on a dead NFS server or a hung FUSE daemon blocks in the kernel,
//! uninterruptibly, for as long as the server is gone. So every call runs on
//! its own short-lived thread and the caller waits for all of them together
//! until one deadline: a mount that has not answered reports
//! `Err("statfs timed out after 5s")`. Its thread stays blocked in the
//! kernel; nothing can cancel it. To keep that from leaking a thread per
//! cycle, the worker remembers which mount points have a call in flight and
//! does not ask them again until that call returns; meanwhile they report
//! `Err("statfs still pending after 1m 5s")`. At most one thread per mount
//! point can therefore be stuck.
//!
//! The statfs function is injectable so the timeout path is tested without a
//! dead mount.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::model::FilesystemUsage;

/// A statfs implementation: [`super::os::statvfs`] in production.
pub type StatfsFn = Arc<dyn Fn(&Path) -> io::Result<FilesystemUsage> + Send + Sync>;

/// Stack for a statfs thread: the call needs almost none.
const THREAD_STACK_BYTES: usize = 512 * 1024;

/// Runs statfs calls in parallel under a deadline; see the module docs.
pub struct StatfsWorker {
    statfs: StatfsFn,
    timeout: Duration,
    in_flight: Arc<InFlight>,
}

/// Mount points with a statfs call running, and when each started.
#[derive(Default)]
struct InFlight {
    started: Mutex<HashMap<PathBuf, Instant>>,
    changed: Condvar,
}

impl InFlight {
    fn lock(&self) -> MutexGuard<'_, HashMap<PathBuf, Instant>> {
        // A panic while holding this lock cannot leave the map inconsistent.
        self.started.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Removes a mount point from the in-flight set when its call returns or
/// panics.
struct Finished {
    in_flight: Arc<InFlight>,
    path: PathBuf,
}

impl Drop for Finished {
    fn drop(&mut self) {
        self.in_flight.lock().remove(&self.path);
        self.in_flight.changed.notify_all();
    }
}

impl StatfsWorker {
    /// A worker calling `statfs`, waiting at most `timeout` per round.
    pub fn new(timeout: Duration, statfs: StatfsFn) -> Self {
        StatfsWorker { statfs, timeout, in_flight: Arc::default() }
    }

    /// The deadline of one round.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Changes the deadline of later rounds (on a configuration reload).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Measures every path in parallel and returns one result per path, in
    /// order, within about `timeout`. Errors are human-readable: the OS error
    /// (`statfs: Permission denied (os error 13)`), a timeout, or a call still
    /// pending from an earlier round.
    pub fn measure(&self, paths: &[PathBuf]) -> Vec<Result<FilesystemUsage, String>> {
        let start = Instant::now();
        let mut results: Vec<Option<Result<FilesystemUsage, String>>> = vec![None; paths.len()];
        // Claim the mount points that have no call in flight. The lock is not
        // held while threads start: a thread that cannot start drops its
        // `Finished`, which takes the lock to release its claim.
        let mut to_start = Vec::with_capacity(paths.len());
        {
            let mut started = self.in_flight.lock();
            for (index, path) in paths.iter().enumerate() {
                if let Some(since) = started.get(path) {
                    let pending = start.saturating_duration_since(*since);
                    results[index] = Some(Err(format!("statfs still pending after {}", human(pending))));
                } else {
                    started.insert(path.clone(), start);
                    to_start.push(index);
                }
            }
        }
        let (sender, receiver) = mpsc::channel();
        let mut waiting = 0_usize;
        for index in to_start {
            let finished = Finished { in_flight: Arc::clone(&self.in_flight), path: paths[index].clone() };
            let statfs = Arc::clone(&self.statfs);
            let sender = sender.clone();
            let spawned = std::thread::Builder::new()
                .name("gomon-statfs".to_owned())
                .stack_size(THREAD_STACK_BYTES)
                .spawn(move || {
                    let result = statfs(&finished.path);
                    drop(finished);
                    // The receiver is gone when the round timed out; the result is dropped.
                    let _ = sender.send((index, result));
                });
            match spawned {
                Ok(_) => waiting += 1,
                Err(e) => results[index] = Some(Err(format!("statfs: cannot start a thread: {e}"))),
            }
        }
        drop(sender);
        let deadline = start + self.timeout;
        while waiting > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            match receiver.recv_timeout(left) {
                Ok((index, result)) => {
                    results[index] = Some(result.map_err(|e| format!("statfs: {e}")));
                    waiting -= 1;
                }
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => {
                    // Every thread has ended, so those that sent nothing panicked.
                    for result in results.iter_mut().filter(|r| r.is_none()) {
                        *result = Some(Err("statfs panicked".to_owned()));
                    }
                    break;
                }
            }
        }
        let timed_out = format!("statfs timed out after {}", human(self.timeout));
        results.into_iter().map(|r| r.unwrap_or_else(|| Err(timed_out.clone()))).collect()
    }

    /// How many statfs calls are still running (stuck ones included).
    pub fn pending(&self) -> usize {
        self.in_flight.lock().len()
    }

    /// Waits until no call is running, or `limit` passes; true when idle.
    pub fn wait_idle(&self, limit: Duration) -> bool {
        let started = self.in_flight.lock();
        let (started, _) = self
            .in_flight
            .changed
            .wait_timeout_while(started, limit, |s| !s.is_empty())
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        started.is_empty()
    }
}

/// "5s", "250ms", "1m 5s": whole seconds from a second up, else milliseconds.
fn human(d: Duration) -> humantime::FormattedDuration {
    let rounded = if d >= Duration::from_secs(1) {
        Duration::from_secs(d.as_secs())
    } else {
        Duration::from_millis(d.as_millis() as u64)
    };
    humantime::format_duration(rounded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn usage(n: u64) -> FilesystemUsage {
        FilesystemUsage { size_bytes: n, free_bytes: n / 2, available_bytes: n / 4, files: 10, files_free: 5 }
    }

    fn paths(names: &[&str]) -> Vec<PathBuf> {
        names.iter().map(PathBuf::from).collect()
    }

    /// A statfs that answers at once, except for "/dead", which blocks until
    /// the test releases it; counts calls per path.
    struct Fake {
        release: Mutex<Option<mpsc::Receiver<()>>>,
        entered: Mutex<mpsc::Sender<()>>,
        dead_calls: AtomicUsize,
    }

    fn fake() -> (Arc<Fake>, mpsc::Sender<()>, mpsc::Receiver<()>) {
        let (release_tx, release_rx) = mpsc::channel();
        let (entered_tx, entered_rx) = mpsc::channel();
        let fake = Arc::new(Fake {
            release: Mutex::new(Some(release_rx)),
            entered: Mutex::new(entered_tx),
            dead_calls: AtomicUsize::new(0),
        });
        (fake, release_tx, entered_rx)
    }

    fn statfs_of(fake: &Arc<Fake>) -> StatfsFn {
        let fake = Arc::clone(fake);
        Arc::new(move |path: &Path| {
            if path == Path::new("/dead") {
                fake.dead_calls.fetch_add(1, Ordering::SeqCst);
                let _ = fake.entered.lock().unwrap().send(());
                // Only the first call can take the receiver; a second call would
                // return at once, which the test would notice as a wrong result.
                let release = fake.release.lock().unwrap().take();
                if let Some(release) = release {
                    let _ = release.recv();
                }
                return Ok(usage(1));
            }
            if path == Path::new("/denied") {
                return Err(io::Error::from(io::ErrorKind::PermissionDenied));
            }
            Ok(usage(path.as_os_str().len() as u64 * 1000))
        })
    }

    #[test]
    fn answers_in_order() {
        let (fake, _release, _entered) = fake();
        let worker = StatfsWorker::new(Duration::from_secs(10), statfs_of(&fake));
        let results = worker.measure(&paths(&["/", "/home", "/denied"]));
        assert_eq!(results[0], Ok(usage(1000)));
        assert_eq!(results[1], Ok(usage(5000)));
        assert_eq!(results[2], Err("statfs: permission denied".to_owned()));
        assert!(worker.wait_idle(Duration::from_secs(10)));
        assert_eq!(worker.pending(), 0);
        assert!(worker.measure(&[]).is_empty());
    }

    #[test]
    fn a_stuck_mount_times_out_and_is_not_asked_again_until_it_returns() {
        let (fake, release, entered) = fake();
        let mut worker = StatfsWorker::new(Duration::from_millis(50), statfs_of(&fake));

        // Round 1: /dead blocks until released, so it must time out.
        let results = worker.measure(&paths(&["/dead"]));
        assert_eq!(results, [Err("statfs timed out after 50ms".to_owned())]);
        entered.recv().unwrap(); // the call really started
        assert_eq!(worker.pending(), 1);

        // Round 2 (a long deadline, so the healthy mount surely answers): /dead is
        // still stuck, so it reports at once and no second thread is started for it.
        worker.set_timeout(Duration::from_secs(10));
        let results = worker.measure(&paths(&["/", "/dead"]));
        assert_eq!(results[0], Ok(usage(1000)));
        let message = results[1].as_ref().unwrap_err();
        assert!(message.starts_with("statfs still pending after "), "{message}");
        assert_eq!(fake.dead_calls.load(Ordering::SeqCst), 1);
        assert_eq!(worker.pending(), 1);

        // The server comes back: the stuck call returns and leaves the set.
        release.send(()).unwrap();
        assert!(worker.wait_idle(Duration::from_secs(10)));
        assert_eq!(worker.pending(), 0);

        // Round 3: /dead is asked again, and answers.
        let results = worker.measure(&paths(&["/dead"]));
        assert_eq!(results, [Ok(usage(1))]);
        assert_eq!(fake.dead_calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_panicking_statfs_is_reported_and_does_not_stay_pending() {
        let worker = StatfsWorker::new(
            Duration::from_secs(10),
            Arc::new(|_: &Path| -> io::Result<FilesystemUsage> { panic!("injected statfs panic") }),
        );
        let results = worker.measure(&paths(&["/x"]));
        assert_eq!(results, [Err("statfs panicked".to_owned())]);
        assert!(worker.wait_idle(Duration::from_secs(10)));
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(human(Duration::from_millis(5_400)).to_string(), "5s");
        assert_eq!(human(Duration::from_secs(65)).to_string(), "1m 5s");
        assert_eq!(human(Duration::from_micros(250_700)).to_string(), "250ms");
    }
}
