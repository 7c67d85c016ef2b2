//! The audit netlink socket: the read-only multicast group the kernel copies every audit
//! record to (whether auditd runs or not), and the `AUDIT_GET` status request whose `lost`
//! counts the records the kernel itself dropped.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// `AUDIT_NLGRP_READLOG` (linux/audit.h): bound as the bitmask `1 << (group - 1)`.
const READLOG_GROUPS: u32 = 1;
const AUDIT_GET: u16 = 1000;
const NLMSG_ERROR: u16 = 2;
const HEADER: usize = 16;
/// Offsets in `struct audit_status`: `pid` is its fourth u32, `lost` its seventh.
const STATUS_PID: usize = 12;
const STATUS_LOST: usize = 24;
/// The kernel's audit records are a few hundred bytes; one datagram holds one.
const BUFFER: usize = 64 * 1024;
/// A large receive queue rides out a burst while we print; past it the kernel drops
/// our copies (we see ENOBUFS), never the workload's calls.
const RCVBUF: libc::c_int = 8 * 1024 * 1024;

/// One message from the multicast group.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Message<'a> {
    /// An audit record: its type and its text (`audit(SEC.MSEC:SERIAL): key=value ...`).
    Record(u16, &'a str),
    /// Our receive queue overflowed: the kernel dropped copies meant for us.
    Overrun,
    /// Nothing within the timeout.
    Idle,
}

fn socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the fd is owned at once.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_AUDIT,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn bind(fd: &OwnedFd, groups: u32) -> io::Result<()> {
    // SAFETY: sockaddr_nl is plain data; zeroed is a valid value.
    let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    addr.nl_family = libc::AF_NETLINK as u16;
    addr.nl_groups = groups;
    // SAFETY: addr outlives the call and its size is passed.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as u32,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Waits up to `timeout` for `fd` to be readable.
pub(crate) fn readable(fd: &impl AsRawFd, timeout: Duration) -> io::Result<bool> {
    let mut poll = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: one valid pollfd.
    match unsafe { libc::poll(&mut poll, 1, ms) } {
        rc if rc < 0 => {
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => Ok(false),
                _ => Err(e),
            }
        }
        rc => Ok(rc > 0),
    }
}

fn recv(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: buf is valid for its length.
    let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// A member of the audit multicast group.
pub(crate) struct Multicast {
    fd: OwnedFd,
    buf: Vec<u8>,
}

impl Multicast {
    /// Joins the group; needs CAP_AUDIT_READ.
    pub(crate) fn open() -> io::Result<Multicast> {
        let fd = socket()?;
        // SAFETY: an int option of the right size; failing only leaves the default queue.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                (&RCVBUF as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as u32,
            );
        }
        bind(&fd, READLOG_GROUPS)?;
        Ok(Multicast {
            fd,
            buf: vec![0; BUFFER],
        })
    }

    /// The next record, waiting up to `timeout`.
    pub(crate) fn next(&mut self, timeout: Duration) -> io::Result<Message<'_>> {
        if !readable(&self.fd, timeout)? {
            return Ok(Message::Idle);
        }
        let n = match recv(&self.fd, &mut self.buf) {
            Ok(n) => n,
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => return Ok(Message::Overrun),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(Message::Idle),
            Err(e) => return Err(e),
        };
        Ok(message(&self.buf[..n]))
    }
}

/// The one message of a multicast datagram. The kernel sends each record in its own
/// datagram, so the datagram's end is the record's: its length field is not needed (and
/// auditd's unicast copy is known to get it wrong).
pub(crate) fn message(datagram: &[u8]) -> Message<'_> {
    if datagram.len() < HEADER {
        return Message::Record(0, "");
    }
    let kind = u16::from_ne_bytes(datagram[4..6].try_into().unwrap());
    let text = std::str::from_utf8(&datagram[HEADER..]).unwrap_or("");
    Message::Record(kind, text.trim_end_matches(['\0', '\n']))
}

/// The parts of the kernel's audit status we use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Status {
    /// The registered audit daemon, 0 for none: while one is, /dev/kmsg gets no records.
    pub(crate) auditd: u32,
    /// Records the kernel dropped since boot (backlog full, rate limit, memory).
    pub(crate) lost: u32,
}

/// Asks the kernel for its audit status. Needs CAP_AUDIT_CONTROL in the initial user and
/// PID namespaces.
pub(crate) fn status() -> io::Result<Status> {
    let fd = socket()?;
    bind(&fd, 0)?;
    let mut request = [0u8; HEADER];
    request[0..4].copy_from_slice(&(HEADER as u32).to_ne_bytes());
    request[4..6].copy_from_slice(&AUDIT_GET.to_ne_bytes());
    request[6..8].copy_from_slice(&(libc::NLM_F_REQUEST as u16).to_ne_bytes());
    request[8..12].copy_from_slice(&1u32.to_ne_bytes());
    // SAFETY: request is valid for its length; the kernel is the default destination.
    let sent = unsafe { libc::send(fd.as_raw_fd(), request.as_ptr().cast(), HEADER, 0) };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut buf = vec![0u8; 8192];
    if !readable(&fd, Duration::from_secs(1))? {
        return Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "no answer to AUDIT_GET",
        ));
    }
    let n = recv(&fd, &mut buf)?;
    parse_status(&buf[..n])
}

/// The answer to `AUDIT_GET`, or the error the kernel sent instead.
pub(crate) fn parse_status(reply: &[u8]) -> io::Result<Status> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "short answer to AUDIT_GET");
    let kind = u16::from_ne_bytes(reply.get(4..6).ok_or_else(bad)?.try_into().unwrap());
    let payload = reply.get(HEADER..).ok_or_else(bad)?;
    let word = |at: usize| -> io::Result<i32> {
        let bytes = payload.get(at..at + 4).ok_or_else(bad)?;
        Ok(i32::from_ne_bytes(bytes.try_into().unwrap()))
    };
    match kind {
        NLMSG_ERROR => Err(io::Error::from_raw_os_error(-word(0)?)),
        AUDIT_GET => Ok(Status {
            auditd: word(STATUS_PID)? as u32,
            lost: word(STATUS_LOST)? as u32,
        }),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn datagram(len: u32, kind: u16, text: &str) -> Vec<u8> {
        let mut d = len.to_ne_bytes().to_vec();
        d.extend_from_slice(&kind.to_ne_bytes());
        d.extend_from_slice(&[0; 10]);
        d.extend_from_slice(text.as_bytes());
        d
    }

    #[test]
    fn record_text_with_a_right_or_a_wrong_length() {
        let text = "audit(1795368544.627:2116): pid=1 code=0x50000";
        let right = datagram((HEADER + text.len()) as u32, 1326, text);
        assert_eq!(message(&right), Message::Record(1326, text));
        let short = datagram(text.len() as u32, 1326, text);
        assert_eq!(message(&short), Message::Record(1326, text));
        let padded = datagram(
            (HEADER + text.len() + 2) as u32,
            1300,
            &format!("{text}\0\0"),
        );
        assert_eq!(message(&padded), Message::Record(1300, text));
        assert_eq!(message(&[1, 2, 3]), Message::Record(0, ""));
    }

    #[test]
    fn status_lost_or_the_kernels_error() {
        let mut reply = datagram(0, AUDIT_GET, "");
        let mut status = [0u8; 40];
        status[STATUS_LOST..STATUS_LOST + 4].copy_from_slice(&77u32.to_ne_bytes());
        status[STATUS_PID..STATUS_PID + 4].copy_from_slice(&4242u32.to_ne_bytes());
        reply.extend_from_slice(&status);
        let want = Status {
            auditd: 4242,
            lost: 77,
        };
        assert_eq!(parse_status(&reply).unwrap(), want);
        let mut error = datagram(0, NLMSG_ERROR, "");
        error.extend_from_slice(&(-libc::EPERM).to_ne_bytes());
        assert_eq!(
            parse_status(&error).unwrap_err().raw_os_error(),
            Some(libc::EPERM)
        );
        assert!(parse_status(&reply[..HEADER + 10]).is_err());
    }
}
