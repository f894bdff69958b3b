//! The stop signal every observer thread waits on.
//!
//! Each source blocks in one place: `poll(2)` on its own descriptor (the
//! netlink socket, the inotify descriptor, /dev/kmsg, journalctl's pipes)
//! together with the stop signal's eventfd, or a crossbeam `select!` with the
//! stop receiver, or [`Stop::wait`] between two polls of tailed files. Asking
//! to stop makes the eventfd readable and disconnects the receiver, so every
//! thread wakes at once instead of at its next timeout.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

/// Shared by the observer's threads (in an `Arc`).
#[derive(Debug)]
pub struct Stop {
    flag: AtomicBool,
    /// Readable once stop was requested (never read, so it stays readable).
    event_fd: OwnedFd,
    /// Dropped on stop, which disconnects `receiver`.
    sender: Mutex<Option<Sender<()>>>,
    receiver: Receiver<()>,
    /// For the async side (the batcher's hand-over to tokio).
    watch: tokio::sync::watch::Sender<bool>,
}

/// What woke [`Stop::poll`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// The descriptor is readable (or hung up, or in error: read it to see).
    Ready,
    /// The timeout passed.
    Timeout,
    /// Stop was requested.
    Stop,
}

impl Stop {
    /// A signal not yet given.
    pub fn new() -> io::Result<Stop> {
        // SAFETY: eventfd has no memory-safety preconditions.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by eventfd and is owned by no one else.
        let event_fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let (sender, receiver) = crossbeam_channel::bounded(0);
        let (watch, _) = tokio::sync::watch::channel(false);
        Ok(Stop { flag: AtomicBool::new(false), event_fd, sender: Mutex::new(Some(sender)), receiver, watch })
    }

    /// Asks every thread to stop. Idempotent.
    pub fn request(&self) {
        if self.flag.swap(true, Ordering::SeqCst) {
            return;
        }
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a valid u64 to an eventfd we own.
        let _ = unsafe { libc::write(self.event_fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
        if let Ok(mut sender) = self.sender.lock() {
            sender.take();
        }
        self.watch.send_replace(true);
    }

    /// Whether stop was requested.
    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// A receiver that disconnects on stop, for `crossbeam_channel::select!`.
    pub fn receiver(&self) -> &Receiver<()> {
        &self.receiver
    }

    /// A watch that turns `true` on stop, for async code.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<bool> {
        self.watch.subscribe()
    }

    /// Sleeps up to `timeout`; `true` if stop was requested (at once when it is).
    pub fn wait(&self, timeout: Duration) -> bool {
        if self.is_set() {
            return true;
        }
        matches!(poll_fds(&[], &self.event_fd, timeout), Ok((_, true)) | Err(_)) || self.is_set()
    }

    /// Waits until `fd` is readable, `timeout` passes or stop is requested.
    pub fn poll(&self, fd: BorrowedFd<'_>, timeout: Duration) -> io::Result<Wake> {
        let (ready, stopped) = self.poll_many(&[fd], timeout)?;
        Ok(if stopped {
            Wake::Stop
        } else if ready.first().copied().unwrap_or(false) {
            Wake::Ready
        } else {
            Wake::Timeout
        })
    }

    /// Waits until one of `fds` is readable, `timeout` passes or stop is
    /// requested: which are readable, and whether stop was requested.
    pub fn poll_many(&self, fds: &[BorrowedFd<'_>], timeout: Duration) -> io::Result<(Vec<bool>, bool)> {
        if self.is_set() {
            return Ok((vec![false; fds.len()], true));
        }
        let raw: Vec<RawFd> = fds.iter().map(|fd| fd.as_raw_fd()).collect();
        poll_fds(&raw, &self.event_fd, timeout)
    }
}

/// poll(2) on `fds` and the stop eventfd, retrying on EINTR.
fn poll_fds(fds: &[RawFd], stop: &OwnedFd, timeout: Duration) -> io::Result<(Vec<bool>, bool)> {
    let mut pollfds: Vec<libc::pollfd> =
        fds.iter().map(|&fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 }).collect();
    pollfds.push(libc::pollfd { fd: stop.as_raw_fd(), events: libc::POLLIN, revents: 0 });
    let millis = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    loop {
        // SAFETY: `pollfds` is a valid array of `pollfds.len()` pollfd structs.
        let n = unsafe { libc::poll(pollfds.as_mut_ptr(), pollfds.len() as libc::nfds_t, millis) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        let ready = pollfds[..fds.len()].iter().map(|p| p.revents != 0).collect();
        let stopped = pollfds[fds.len()].revents != 0;
        return Ok((ready, stopped));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::sync::Arc;
    use std::time::Instant;

    #[test]
    fn request_wakes_a_waiting_thread_and_a_select() {
        let stop = Arc::new(Stop::new().unwrap());
        assert!(!stop.wait(Duration::from_millis(1)));
        let waiter = {
            let stop = stop.clone();
            std::thread::spawn(move || stop.wait(Duration::from_secs(60)))
        };
        let selecter = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                crossbeam_channel::select! { recv(stop.receiver()) -> r => r.is_err() }
            })
        };
        let start = Instant::now();
        stop.request();
        assert!(waiter.join().unwrap());
        assert!(selecter.join().unwrap());
        // Both woke long before their 60 s timeout.
        assert!(start.elapsed() < Duration::from_secs(30));
        assert!(stop.is_set() && *stop.subscribe().borrow());
        stop.request();
    }

    #[test]
    fn poll_reports_a_readable_descriptor() {
        let stop = Stop::new().unwrap();
        let (reader, mut writer) = std::io::pipe().unwrap();
        assert_eq!(stop.poll(reader.as_fd(), Duration::from_millis(1)).unwrap(), Wake::Timeout);
        std::io::Write::write_all(&mut writer, b"x").unwrap();
        assert_eq!(stop.poll(reader.as_fd(), Duration::from_secs(60)).unwrap(), Wake::Ready);
        stop.request();
        assert_eq!(stop.poll(reader.as_fd(), Duration::from_secs(60)).unwrap(), Wake::Stop);
    }
}
