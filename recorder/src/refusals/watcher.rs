//! Picks the path refusals are read from, reads them one at a time, and keeps the counts
//! of everything that was not one (and of what the kernel lost).

use super::audit_netlink::{self, Message, Multicast};
use super::kmsg::{self, Entry, Kmsg};
use super::{Parsed, Refusal, RefusalError, parse};
use std::fmt;
use std::time::{Duration, Instant};

/// The SECCOMP record type.
const SECCOMP: u16 = 1326;
/// How many malformed lines the stats keep, to show.
const MALFORMED_KEPT: usize = 5;

/// Where refusals are read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The audit netlink multicast group (AUDIT_NLGRP_READLOG).
    Netlink,
    /// The kernel log, /dev/kmsg.
    Kmsg,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Netlink => "the audit netlink multicast group",
            Source::Kmsg => "/dev/kmsg",
        })
    }
}

impl std::str::FromStr for Source {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "netlink" => Ok(Source::Netlink),
            "kmsg" => Ok(Source::Kmsg),
            _ => Err(format!("unknown source '{s}' (expected netlink or kmsg)")),
        }
    }
}

/// What was read that was not a SECCOMP record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// SECCOMP records read (refusals and SCMP_ACT_LOG records).
    pub records: u64,
    /// Audit records of other types (SYSCALL, PROCTITLE, CONFIG_CHANGE, ...).
    pub other_types: u64,
    /// Kernel messages that are not audit records (kmsg only).
    pub foreign: u64,
    pub malformed: u64,
    /// The first few malformed lines' reasons.
    pub malformed_reasons: Vec<String>,
}

/// Records that never reached us.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Losses {
    /// Records the kernel dropped since the watch started (its audit status `lost`), or
    /// why that cannot be asked.
    pub kernel: Option<Result<u64, String>>,
    /// Times our socket's queue overflowed (the kernel dropped copies meant for us).
    pub overruns: u64,
    /// Records the printk rate limit dropped (kmsg only).
    pub suppressed: u64,
    /// Times the kernel log ring overwrote records before we read them (kmsg only).
    pub overwritten: u64,
}

impl Losses {
    /// Whether any loss is known, or the kernel's cannot be known.
    pub fn any(&self) -> bool {
        let kernel = match &self.kernel {
            Some(Ok(n)) => *n > 0,
            _ => false,
        };
        kernel || self.overruns + self.suppressed + self.overwritten > 0
    }
}

impl Losses {
    /// The kernel's own count, when it could be asked.
    pub fn kernel_lost(&self) -> Option<u64> {
        self.kernel.as_ref().and_then(|k| k.as_ref().ok()).copied()
    }
}

impl fmt::Display for Losses {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kernel {
            Some(Ok(n)) => write!(f, "kernel lost {n} audit records")?,
            Some(Err(why)) => write!(f, "kernel losses unknown ({why})")?,
            None => f.write_str("kernel losses not asked")?,
        }
        write!(
            f,
            "; socket overruns {}; printk rate limit dropped {}; log ring overwritten {} times",
            self.overruns, self.suppressed, self.overwritten
        )
    }
}

enum Reader {
    Netlink(Multicast),
    Kmsg(Kmsg),
}

/// Reads refusals from one source.
pub struct Watcher {
    reader: Reader,
    why: String,
    stats: Stats,
    losses: Losses,
    /// `lost` when the watch started.
    lost_at_start: Result<u32, String>,
    /// The last `audit_lost=` the kernel printed (kmsg), for when status cannot be asked.
    lost_printed: Option<u32>,
}

fn status() -> Result<audit_netlink::Status, String> {
    audit_netlink::status().map_err(|e| format!("audit status (AUDIT_GET): {e}"))
}

impl Watcher {
    /// Opens `wanted`, or probes: the multicast group where it works, else /dev/kmsg.
    pub fn open(wanted: Option<Source>) -> Result<Watcher, RefusalError> {
        let status = status();
        let (reader, why) = match wanted {
            Some(Source::Netlink) => {
                let auditd = auditd_said(&status);
                let why = format!("asked for ({auditd}; the group gets every record either way)");
                (netlink()?, why)
            }
            Some(Source::Kmsg) => (kmsg()?, "asked for (--source kmsg)".to_string()),
            None => probe(&status)?,
        };
        let mut why = why;
        if matches!(reader, Reader::Kmsg(_))
            && let Ok(s) = &status
            && s.auditd != 0
        {
            why.push_str(&format!(
                "; auditd (pid {}) is registered, so the kernel sends records to it and \
                 none to /dev/kmsg",
                s.auditd
            ));
        }
        Ok(Watcher {
            reader,
            why,
            stats: Stats::default(),
            losses: Losses::default(),
            lost_at_start: status.map(|s| s.lost),
            lost_printed: None,
        })
    }

    pub fn source(&self) -> Source {
        match self.reader {
            Reader::Netlink(_) => Source::Netlink,
            Reader::Kmsg(_) => Source::Kmsg,
        }
    }

    /// Why this source was picked, in a sentence for the log.
    pub fn why(&self) -> &str {
        &self.why
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// What was lost so far; asks the kernel for its count.
    pub fn losses(&self) -> Losses {
        let mut losses = self.losses.clone();
        let now = status().map(|s| s.lost);
        losses.kernel = Some(match (self.lost_at_start.as_ref(), now.as_ref()) {
            (Ok(start), Ok(now)) => Ok(u64::from(now.wrapping_sub(*start))),
            (Err(e), _) | (_, Err(e)) => self
                .lost_printed
                .map(u64::from)
                .ok_or_else(|| e.to_string()),
        });
        losses
    }

    /// The next SECCOMP record, or `None` once `timeout` passed without one.
    pub fn next(&mut self, timeout: Duration) -> Result<Option<Refusal>, RefusalError> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let parsed = match &mut self.reader {
                Reader::Netlink(m) => match m.next(left).map_err(netlink_error("recv"))? {
                    Message::Record(SECCOMP, text) => Some(parse(&format!("type=1326 {text}"))),
                    Message::Record(..) => Some(Parsed::OtherType),
                    Message::Overrun => {
                        self.losses.overruns += 1;
                        None
                    }
                    Message::Idle => return Ok(None),
                },
                Reader::Kmsg(k) => match k.next(left).map_err(kmsg_error("read"))? {
                    Entry::Message(text) => {
                        Some(kmsg_parsed(text, &mut self.losses, &mut self.lost_printed))
                    }
                    Entry::Overwritten => {
                        self.losses.overwritten += 1;
                        None
                    }
                    Entry::Idle => return Ok(None),
                },
            };
            if let Some(refusal) = parsed.and_then(|p| self.count(p)) {
                return Ok(Some(refusal));
            }
        }
    }

    fn count(&mut self, parsed: Parsed) -> Option<Refusal> {
        match parsed {
            Parsed::Refusal(r) => {
                self.stats.records += 1;
                return Some(r);
            }
            Parsed::OtherType => self.stats.other_types += 1,
            Parsed::Foreign => self.stats.foreign += 1,
            Parsed::Malformed(reason) => {
                self.stats.malformed += 1;
                if self.stats.malformed_reasons.len() < MALFORMED_KEPT {
                    self.stats.malformed_reasons.push(reason);
                }
            }
        }
        None
    }
}

/// A kernel log message: an audit record, a loss report, or something else.
fn kmsg_parsed(text: &str, losses: &mut Losses, lost_printed: &mut Option<u32>) -> Parsed {
    if let Some(n) = kmsg::suppressed(text) {
        losses.suppressed += n;
        return Parsed::Foreign;
    }
    if let Some(n) = kmsg::audit_lost(text) {
        *lost_printed = Some(n);
        return Parsed::Foreign;
    }
    match text.strip_prefix("audit: ") {
        Some(_) => parse(text),
        None => Parsed::Foreign,
    }
}

fn netlink_error(what: &'static str) -> impl Fn(std::io::Error) -> RefusalError {
    move |source| RefusalError::Netlink { what, source }
}

fn kmsg_error(what: &'static str) -> impl Fn(std::io::Error) -> RefusalError {
    move |source| RefusalError::Kmsg { what, source }
}

fn netlink() -> Result<Reader, RefusalError> {
    Ok(Reader::Netlink(
        Multicast::open().map_err(netlink_error("join AUDIT_NLGRP_READLOG"))?,
    ))
}

fn kmsg() -> Result<Reader, RefusalError> {
    Ok(Reader::Kmsg(Kmsg::open().map_err(kmsg_error("open"))?))
}

/// Whether auditd runs, as the reason for reading the multicast group says it: the group
/// gets every record either way.
fn auditd_said(status: &Result<audit_netlink::Status, String>) -> String {
    match status {
        Ok(s) if s.auditd != 0 => format!("auditd, pid {}, is running", s.auditd),
        Ok(_) => "no auditd is running".to_string(),
        Err(_) => "auditd may or may not run".to_string(),
    }
}

/// The multicast group where it works, else /dev/kmsg, with the reason for the choice.
fn probe(status: &Result<audit_netlink::Status, String>) -> Result<(Reader, String), RefusalError> {
    let refused = match (host_netns(), Multicast::open()) {
        (Ok(()), Ok(m)) => {
            let auditd = auditd_said(status);
            let why = format!(
                "joined the audit multicast group ({auditd}; the group gets every record \
                 either way)"
            );
            return Ok((Reader::Netlink(m), why));
        }
        (Err(why), _) => why,
        (Ok(()), Err(e)) => {
            format!("cannot join the audit multicast group (it needs CAP_AUDIT_READ): {e}")
        }
    };
    match Kmsg::open() {
        Ok(k) => {
            let why = format!(
                "{refused}; reading /dev/kmsg instead (records only while no auditd runs, \
                 at most kernel.printk_ratelimit_burst per kernel.printk_ratelimit seconds)"
            );
            Ok((Reader::Kmsg(k), why))
        }
        Err(e) => Err(RefusalError::NoSource(format!(
            "{refused}; cannot open /dev/kmsg (it needs CAP_SYSLOG while \
             kernel.dmesg_restrict is 1): {e}"
        ))),
    }
}

/// The kernel multicasts audit records only in the initial network namespace: a member
/// elsewhere joins and hears nothing. Where PID 1 is not the host's (no hostPID), this
/// cannot be told and the group is tried.
fn host_netns() -> Result<(), String> {
    let ours = std::fs::read_link("/proc/self/ns/net");
    let init = std::fs::read_link("/proc/1/ns/net");
    match (ours, init) {
        (Ok(a), Ok(b)) if a != b => Err(format!(
            "this process is not in the host's network namespace ({} vs PID 1's {}), where \
             the kernel sends audit records",
            a.display(),
            b.display()
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kmsg_messages_sorted_out() {
        let (mut losses, mut printed) = (Losses::default(), None);
        let mut parsed = |t: &str| kmsg_parsed(t, &mut losses, &mut printed);
        let record = "audit: type=1326 audit(1795384464.398:3): auid=4294967295 uid=0 gid=0 \
            ses=4294967295 pid=17087 comm=\"x\" exe=\"/x\" sig=0 arch=c000003e syscall=140 \
            compat=0 ip=0x7f0e450d9829 code=0x50000";
        assert!(matches!(parsed(record), Parsed::Refusal(r) if r.nr == 140 && r.refused()));
        assert!(matches!(
            parsed("audit: type=1300 audit(1.000:1): arch=c000003e"),
            Parsed::OtherType
        ));
        assert!(matches!(
            parsed("EXT4-fs (vda): mounted filesystem"),
            Parsed::Foreign
        ));
        assert!(matches!(
            parsed("audit: type=1326 audit(1.000:1): pid=1 code=0x50000"),
            Parsed::Malformed(_)
        ));
        assert!(matches!(
            parsed("kauditd_printk_skb: 7 callbacks suppressed"),
            Parsed::Foreign
        ));
        assert!(matches!(
            parsed("audit: audit_lost=3 audit_rate_limit=0 audit_backlog_limit=64"),
            Parsed::Foreign
        ));
        assert_eq!((losses.suppressed, printed), (7, Some(3)));
    }

    #[test]
    fn losses_say_what_was_lost() {
        let mut l = Losses::default();
        assert!(!l.any());
        l.kernel = Some(Err("EPERM".into()));
        assert!(!l.any());
        assert!(l.to_string().contains("kernel losses unknown (EPERM)"));
        l.kernel = Some(Ok(4));
        assert!(l.any());
        assert!(l.to_string().starts_with("kernel lost 4 audit records"));
    }
}
