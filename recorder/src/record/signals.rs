//! SIGINT/SIGTERM/SIGHUP while recording: forwarded to the command, or the end of a watch.

use super::RecordError;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};

static SIGNAL_WRITE_FD: AtomicI32 = AtomicI32::new(-1);

/// SIGINT/SIGTERM/SIGHUP delivered through a pipe, so the main loop can poll them next to
/// the child's pidfd. Handlers (not a blocked mask) so that the child, which inherits the
/// mask across execve, still gets default signal behaviour.
pub(super) struct Signals {
    read: OwnedFd,
    _write: OwnedFd,
    ids: Vec<signal_hook::SigId>,
}

impl Signals {
    pub(super) fn install() -> Result<Signals, RecordError> {
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills two fds we then own.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
            return Err(RecordError::Signals(std::io::Error::last_os_error()));
        }
        // SAFETY: fresh fds from pipe2.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        SIGNAL_WRITE_FD.store(write.as_raw_fd(), Ordering::SeqCst);
        let mut ids = Vec::new();
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            // SAFETY: the handler only does an atomic load and write(2): async-signal-safe.
            let id = unsafe {
                signal_hook::low_level::register(sig, move || {
                    let fd = SIGNAL_WRITE_FD.load(Ordering::SeqCst);
                    let b = sig as u8;
                    libc::write(fd, &b as *const u8 as *const libc::c_void, 1);
                })
            }
            .map_err(RecordError::Signals)?;
            ids.push(id);
        }
        Ok(Signals {
            read,
            _write: write,
            ids,
        })
    }

    /// Waits up to `ms` for a signal or for `fd` to become readable.
    pub(super) fn poll(&self, fd: Option<i32>, ms: i32) -> (bool, Option<i32>) {
        let mut fds = vec![libc::pollfd {
            fd: self.read.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        if let Some(fd) = fd {
            fds.push(libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            });
        }
        // SAFETY: poll on fds we own.
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        let mut b = 0u8;
        // SAFETY: non-blocking read of one byte into a local.
        let sig = (unsafe {
            libc::read(
                self.read.as_raw_fd(),
                &mut b as *mut u8 as *mut libc::c_void,
                1,
            )
        } == 1)
            .then_some(b as i32);
        (fds.get(1).is_some_and(|f| f.revents != 0), sig)
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
        SIGNAL_WRITE_FD.store(-1, Ordering::SeqCst);
    }
}
