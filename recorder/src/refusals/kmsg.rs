//! `/dev/kmsg`: where the kernel prints audit records while no auditd is registered,
//! `audit: type=1326 audit(...): ...`, at most `printk_ratelimit_burst` per
//! `printk_ratelimit` seconds. What the rate limit drops is announced as
//! `kauditd_printk_skb: N callbacks suppressed`; what the ring overwrote before we read it
//! shows as a read error (EPIPE).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::time::Duration;

/// One /dev/kmsg record is at most this long (the kernel's own limit is 8 KiB minus its
/// prefix).
const RECORD: usize = 8192;

/// What one kernel log record is to us.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Entry<'a> {
    /// A kernel message: the text after the `prio,seq,time,flags;` prefix.
    Message(&'a str),
    /// The ring overwrote records before we read them.
    Overwritten,
    Idle,
}

pub(crate) struct Kmsg {
    file: File,
    buf: Vec<u8>,
}

impl Kmsg {
    /// Opens /dev/kmsg at its end: the ring's older records are history, not live.
    pub(crate) fn open() -> io::Result<Kmsg> {
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/kmsg")?;
        file.seek(SeekFrom::End(0))?;
        Ok(Kmsg {
            file,
            buf: vec![0; RECORD],
        })
    }

    pub(crate) fn next(&mut self, timeout: Duration) -> io::Result<Entry<'_>> {
        loop {
            match self.file.read(&mut self.buf) {
                Ok(n) => return Ok(Entry::Message(message(&self.buf[..n]))),
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => return Ok(Entry::Overwritten),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !super::audit_netlink::readable(&self.file, timeout)? {
                        return Ok(Entry::Idle);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// The message of one record: `5,2381,6177079117,-;audit: type=1326 ...\n` plus, on
/// continuation lines, ` KEY=value` dictionary entries we do not need.
pub(crate) fn message(record: &[u8]) -> &str {
    // Audit records are ASCII: past invalid UTF-8 there is nothing of ours.
    let text = std::str::from_utf8(record)
        .unwrap_or_else(|e| std::str::from_utf8(&record[..e.valid_up_to()]).unwrap_or(""));
    let text = text.split_once(';').map_or(text, |(_, m)| m);
    text.split('\n').next().unwrap_or("")
}

/// `N` of `kauditd_printk_skb: N callbacks suppressed`: audit records the printk rate
/// limit dropped.
pub(crate) fn suppressed(message: &str) -> Option<u64> {
    let rest = message.strip_prefix("kauditd_printk_skb: ")?;
    rest.strip_suffix(" callbacks suppressed")?.parse().ok()
}

/// `N` of the kernel's own `audit: audit_lost=N audit_rate_limit=...` report.
pub(crate) fn audit_lost(message: &str) -> Option<u32> {
    let rest = message.strip_prefix("audit: audit_lost=")?;
    rest.split(' ').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_without_prefix_and_dictionary() {
        let record = b"5,2381,6177079117,-;audit: type=1326 audit(1.000:2): pid=1\n SUBSYSTEM=x\n";
        assert_eq!(message(record), "audit: type=1326 audit(1.000:2): pid=1");
        assert_eq!(message(b"no prefix"), "no prefix");
        assert_eq!(message(b"6,1,2,-;bad \xff utf8\n"), "bad ");
    }

    #[test]
    fn rate_limit_and_kernel_losses() {
        assert_eq!(
            suppressed("kauditd_printk_skb: 40 callbacks suppressed"),
            Some(40)
        );
        assert_eq!(suppressed("foo: 40 callbacks suppressed"), None);
        assert_eq!(
            suppressed("kauditd_printk_skb: x callbacks suppressed"),
            None
        );
        assert_eq!(
            audit_lost("audit: audit_lost=12 audit_rate_limit=0 audit_backlog_limit=64"),
            Some(12)
        );
        assert_eq!(audit_lost("audit: type=1326"), None);
    }
}
