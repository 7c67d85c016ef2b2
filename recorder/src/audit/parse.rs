//! One line of input to one seccomp record. Three front ends (auditd's audit.log, the kernel
//! log, journald JSON) feed one parser of the shared core
//! `audit(SEC.MSEC:SERIAL): key=value ...`.

use serde::Deserialize;

/// Where a line came from, as detected (or forced with `--format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Format {
    /// auditd's `type=SECCOMP msg=audit(...)` (audit.log, `ausearch --raw`).
    Auditd,
    /// The kernel's own `audit: type=1326 audit(...)` (dmesg, /dev/kmsg, syslog).
    Kernel,
    /// `journalctl -o json`, one object a line.
    Journald,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Auditd => "auditd",
            Format::Kernel => "kernel",
            Format::Journald => "journald",
        }
    }
}

/// The fields of a SECCOMP record that the importer uses, as the kernel wrote them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Milliseconds since the Unix epoch, if the line carried a time.
    pub(crate) time_ms: Option<u64>,
    pub(crate) pid: u32,
    pub(crate) uid: Option<u32>,
    pub(crate) comm: Option<String>,
    pub(crate) exe: Option<String>,
    /// `AUDIT_ARCH_*` value.
    pub(crate) arch: u32,
    pub(crate) syscall: u32,
    /// The action bits only: the kernel strips errno and data.
    pub(crate) code: u32,
}

/// What one line turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    Seccomp(Format, Record),
    /// An audit record of another type (SYSCALL, PROCTITLE, ANOM_ABEND, ...).
    OtherType,
    /// Not an audit record at all (other kernel messages, blank lines).
    NotAudit,
    /// Not in the format forced with `--format`.
    OtherFormat,
    /// Looks like a SECCOMP record but cannot be read; the reason says why.
    Malformed(String),
}

const SECCOMP_TYPE: &str = "1326";
const SECCOMP_NAME: &str = "SECCOMP";
/// auditd separates the raw record from its enrichment with this byte. The enriched part
/// is not trusted: auditd 3.0 writes `SYSCALL=unknown-syscall(-1)` for SECCOMP records.
const ENRICHMENT_SEPARATOR: u8 = 0x1d;

/// Parses one line; `forced` restricts it to one format, `None` detects it.
pub fn parse_line(line: &str, forced: Option<Format>) -> Line {
    let journald = line.trim_start().starts_with('{');
    match forced {
        Some(Format::Journald) if !journald => Line::OtherFormat,
        Some(Format::Auditd | Format::Kernel) if journald => Line::OtherFormat,
        _ if journald => parse_journald(line),
        _ => parse_text(line, forced),
    }
}

/// The kernel and auditd forms: `[prefix]type=T [msg=]audit(TIME:SERIAL): fields`.
fn parse_text(line: &str, forced: Option<Format>) -> Line {
    // Byte searches throughout: every delimiter is ASCII, so each index found is also a
    // char boundary, and the import's speed is these searches.
    let line = match memchr::memchr(ENRICHMENT_SEPARATOR, line.as_bytes()) {
        Some(end) => &line[..end],
        None => line,
    };
    let Some(start) = find_type(line) else {
        return Line::NotAudit;
    };
    let rest = &line[start + "type=".len()..];
    let (kind, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let format = if kind.bytes().all(|b| b.is_ascii_digit()) {
        Format::Kernel
    } else {
        Format::Auditd
    };
    if forced.is_some_and(|f| f != format) {
        return Line::OtherFormat;
    }
    let seccomp = kind == SECCOMP_TYPE || kind == SECCOMP_NAME;
    let rest = rest.strip_prefix("msg=").unwrap_or(rest);
    let rest = match rest.strip_prefix("audit(") {
        Some(rest) if seccomp => rest,
        Some(_) => return Line::OtherType,
        // Some other message with a `type=` in it (ACPI, a driver...).
        None if !seccomp => return Line::NotAudit,
        None => return Line::Malformed("no audit(TIME:SERIAL) after the record type".into()),
    };
    let close = memchr::memchr(b')', rest.as_bytes()).unwrap_or(rest.len());
    // `ausearch -i` writes `audit(11/22/26 17:26:54.879:2109) : ... syscall=getppid`.
    if memchr::memchr(b'/', &rest.as_bytes()[..close]).is_some() {
        return Line::Malformed("interpreted record (ausearch -i): use ausearch --raw".into());
    }
    let closed = match rest[close..].strip_prefix("):") {
        Some(fields) => Some((&rest[..close], fields)),
        None => rest.split_once("):"),
    };
    let Some((stamp, fields)) = closed else {
        return Line::Malformed("audit(TIME:SERIAL) is not closed".into());
    };
    let time_ms = match parse_stamp(stamp) {
        Some(t) => t,
        None => return Line::Malformed(format!("bad time stamp audit({stamp})")),
    };
    match parse_fields(fields, Some(time_ms)) {
        Ok(record) => Line::Seccomp(format, record),
        Err(reason) => Line::Malformed(reason),
    }
}

/// The first `type=` that starts a word, so `_AUDIT_TYPE=` or `subtype=` do not count.
fn find_type(line: &str) -> Option<usize> {
    // auditd's lines start with it: no searcher to build.
    if line.starts_with("type=") {
        return Some(0);
    }
    line.match_indices("type=").map(|(i, _)| i).find(|&i| {
        i == 0 || !matches!(line.as_bytes()[i - 1], b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_')
    })
}

/// `1795368544.627:2116` to milliseconds since the epoch.
fn parse_stamp(stamp: &str) -> Option<u64> {
    let (time, serial) = stamp.split_once(':')?;
    serial.parse::<u64>().ok()?;
    let (secs, millis) = time.split_once('.')?;
    if millis.len() != 3 {
        return None;
    }
    let secs = secs.parse::<u64>().ok()?;
    secs.checked_mul(1000)?.checked_add(millis.parse().ok()?)
}

/// The `key=value` list after `audit(...):`.
fn parse_fields(text: &str, time_ms: Option<u64>) -> Result<Record, String> {
    let (mut pid, mut uid, mut comm, mut exe) = (None, None, None, None);
    let (mut arch, mut syscall, mut code) = (None, None, None);
    for (key, value) in fields(text) {
        match key {
            "pid" => pid = Some(number(key, value)?),
            "uid" => uid = Some(number(key, value)?),
            "comm" => comm = Some(untrusted(value)),
            "exe" => exe = Some(untrusted(value)),
            "arch" => arch = Some(hex(key, value)?),
            "syscall" => syscall = Some(number(key, value)?),
            "code" => code = Some(hex(key, value.strip_prefix("0x").unwrap_or(value))?),
            _ => {}
        }
    }
    let missing = |k: &str| format!("no {k}= field (truncated line?)");
    let code = code.ok_or_else(|| missing("code"))?;
    check_code(code)?;
    Ok(Record {
        time_ms,
        pid: pid.ok_or_else(|| missing("pid"))?,
        uid,
        comm,
        exe,
        arch: arch.ok_or_else(|| missing("arch"))?,
        syscall: syscall.ok_or_else(|| missing("syscall"))?,
        code,
    })
}

/// The kernel logs only the action bits, so a value with data bits is a cut-off or
/// garbled number (a truncated `code=0x7ffc0000` must not read as another action).
fn check_code(code: u32) -> Result<(), String> {
    if code & 0xffff != 0 || super::Action::from_code(code).is_none() {
        return Err(format!("code=0x{code:x} is not a seccomp action"));
    }
    Ok(())
}

/// Splits `k=v k="quoted v" ...`. Untrusted strings are quoted only when they contain no
/// space, so a quoted value never holds one; the quote handling is for hand-edited lines.
fn fields(text: &str) -> impl Iterator<Item = (&str, &str)> {
    let bytes = text.as_bytes();
    let mut at = 0;
    std::iter::from_fn(move || {
        // A key that is not one word is debris (e.g. a space inside a garbled value): the
        // key is the last word before the `=`.
        let (mut key, mut eq) = (at, at);
        loop {
            match bytes.get(eq)? {
                b'=' => break,
                b if b.is_ascii_whitespace() => key = eq + 1,
                _ => {}
            }
            eq += 1;
        }
        let key = &text[key..eq];
        let start = eq + 1;
        let end = match bytes.get(start) {
            Some(b'"') => {
                memchr::memchr(b'"', &bytes[start + 1..]).map_or(bytes.len(), |i| start + i + 2)
            }
            _ => memchr::memchr(b' ', &bytes[start..]).map_or(bytes.len(), |i| start + i),
        };
        at = end;
        Some((key, &text[start..end]))
    })
}

fn number(key: &str, value: &str) -> Result<u32, String> {
    value
        .parse()
        .map_err(|_| format!("{key}={value} is not a number"))
}

fn hex(key: &str, value: &str) -> Result<u32, String> {
    u32::from_str_radix(value, 16).map_err(|_| format!("{key}={value} is not hexadecimal"))
}

/// An audit "untrusted string": `"text"`, or bare hex when the text has a space, quote or
/// control character, or `(null)`.
pub(crate) fn untrusted(value: &str) -> String {
    if let Some(quoted) = value.strip_prefix('"') {
        return quoted.strip_suffix('"').unwrap_or(quoted).to_string();
    }
    decode_hex(value).unwrap_or_else(|| value.to_string())
}

fn decode_hex(value: &str) -> Option<String> {
    if value.is_empty() || !value.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..value.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(value.get(i..i + 2)?, 16).ok())
        .collect();
    Some(String::from_utf8_lossy(&bytes?).into_owned())
}

/// The subset of a `journalctl -o json` entry we read. Values are `Value`s because journald
/// writes binary fields as byte arrays and repeated fields as arrays.
#[derive(Deserialize)]
struct JournalEntry {
    #[serde(rename = "MESSAGE")]
    message: Option<serde_json::Value>,
    #[serde(rename = "_AUDIT_TYPE")]
    audit_type: Option<serde_json::Value>,
    #[serde(rename = "_SOURCE_REALTIME_TIMESTAMP")]
    source_time: Option<serde_json::Value>,
    #[serde(rename = "__REALTIME_TIMESTAMP")]
    realtime: Option<serde_json::Value>,
}

/// Kernel-transport entries carry the kernel line in MESSAGE; audit-transport entries carry
/// `SECCOMP key=value ...` (type name, then the fields) and the type in `_AUDIT_TYPE`.
fn parse_journald(line: &str) -> Line {
    let entry: JournalEntry = match serde_json::from_str(line) {
        Ok(e) => e,
        Err(e) => return Line::Malformed(format!("not a journald JSON entry: {e}")),
    };
    let Some(message) = entry.message.as_ref().and_then(text) else {
        return Line::NotAudit;
    };
    if find_type(&message).is_some() {
        return match parse_text(&message, None) {
            Line::Seccomp(_, record) => Line::Seccomp(Format::Journald, record),
            other => other,
        };
    }
    match entry.audit_type.as_ref().and_then(text).as_deref() {
        None => Line::NotAudit,
        Some(SECCOMP_TYPE) => {
            let fields = message.strip_prefix(SECCOMP_NAME).unwrap_or(&message);
            let time = entry.source_time.or(entry.realtime).as_ref().and_then(text);
            let time_ms = time.and_then(|t| t.parse::<u64>().ok()).map(|us| us / 1000);
            match parse_fields(fields, time_ms) {
                Ok(record) => Line::Seccomp(Format::Journald, record),
                Err(reason) => Line::Malformed(reason),
            }
        }
        Some(_) => Line::OtherType,
    }
}

/// A journald field value as text: a string, a byte array, or the first of repeated values.
fn text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Array(items) if items.iter().all(|i| i.is_u64()) => {
            let bytes: Vec<u8> = items
                .iter()
                .filter_map(|i| i.as_u64())
                .map(|b| b as u8)
                .collect();
            Some(String::from_utf8_lossy(&bytes).into_owned())
        }
        serde_json::Value::Array(items) => items.first().and_then(text),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Observed on this project's test machine (kernel 6.18, /dev/kmsg, no auditd).
    const KMSG: &str = "5,340,558640562,-;audit: type=1326 audit(1795384464.398:3): \
        auid=4294967295 uid=0 gid=0 ses=4294967295 pid=17087 comm=\"audit_log\" \
        exe=\"/tmp/auditexp/audit_log\" sig=0 arch=c000003e syscall=63 compat=0 \
        ip=0x7f0e450d9829 code=0x7ffc0000";

    fn record(line: &str) -> Record {
        match parse_line(line, None) {
            Line::Seccomp(_, r) => r,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn kernel_line_from_kmsg() {
        let r = record(KMSG);
        assert_eq!(r.time_ms, Some(1_795_384_464_398));
        assert_eq!(
            (r.pid, r.uid, r.arch, r.syscall, r.code),
            (17087, Some(0), 0xc000003e, 63, 0x7ffc0000)
        );
        assert_eq!(r.comm.as_deref(), Some("audit_log"));
        assert_eq!(r.exe.as_deref(), Some("/tmp/auditexp/audit_log"));
        assert!(matches!(
            parse_line(KMSG, None),
            Line::Seccomp(Format::Kernel, _)
        ));
    }

    #[test]
    fn auditd_line_ignores_enrichment() {
        let line = "type=SECCOMP msg=audit(1795368414.879:2110): auid=4294967295 uid=0 gid=0 \
            ses=4294967295 pid=13183 comm=\"logtest2\" exe=\"/tmp/sc/logtest2\" sig=0 \
            arch=40000003 syscall=64 compat=1 ip=0x55d79f7b3342 code=0x7ffc0000\x1dAUID=\"unset\" \
            UID=\"root\" GID=\"root\" ARCH=i386 SYSCALL=unknown-syscall(-1) syscall=1 code=0x0";
        let r = record(line);
        assert_eq!((r.arch, r.syscall, r.code), (0x40000003, 64, 0x7ffc0000));
        assert!(matches!(
            parse_line(line, None),
            Line::Seccomp(Format::Auditd, _)
        ));
    }

    #[test]
    fn hex_encoded_comm_and_exe() {
        let line = KMSG
            .replace("comm=\"audit_log\"", "comm=6175646974206C6F67")
            .replace("exe=\"/tmp/auditexp/audit_log\"", "exe=2F746D702F61206220");
        let r = record(&line);
        assert_eq!(r.comm.as_deref(), Some("audit log"));
        assert_eq!(r.exe.as_deref(), Some("/tmp/a b "));
    }

    #[test]
    fn auditd_node_prefix() {
        // auditd with `name_format = hostname` puts the node first.
        let line = "node=web-1 type=SECCOMP msg=audit(1795368414.879:2109): auid=4294967295 uid=0 \
            gid=0 ses=4294967295 pid=13183 comm=\"a\" exe=\"/a\" sig=0 arch=c000003e syscall=110 \
            compat=0 ip=0x7fd8673ad829 code=0x7ffc0000";
        assert_eq!((record(line).pid, record(line).syscall), (13183, 110));
    }

    #[test]
    fn other_types_and_other_lines() {
        let abend = "type=ANOM_ABEND msg=audit(1795368414.879:2113): auid=4294967295 pid=13185 sig=31 res=1";
        assert_eq!(parse_line(abend, None), Line::OtherType);
        assert_eq!(
            parse_line("audit: type=1305 audit(1.000:1): op=seccomp-logging", None),
            Line::OtherType
        );
        assert_eq!(
            parse_line("[  1.0] EXT4-fs (vda): mounted filesystem", None),
            Line::NotAudit
        );
        assert_eq!(parse_line("", None), Line::NotAudit);
        assert_eq!(
            parse_line("[ 0.5] ACPI: PM: type=3 wakeup", None),
            Line::NotAudit
        );
        assert!(matches!(
            parse_line("type=SECCOMP msg=aud", None),
            Line::Malformed(_)
        ));
        let interpreted = "type=SECCOMP msg=audit(11/22/26 17:26:54.879:2109) : auid=unset \
            uid=root gid=root ses=unset pid=13183 comm=logtest2 exe=/tmp/sc/logtest2 sig=SIG0 \
            arch=x86_64 syscall=getppid compat=0 ip=0x7fd8673ad829 code=log";
        let Line::Malformed(reason) = parse_line(interpreted, None) else {
            panic!("{interpreted}");
        };
        assert!(reason.contains("ausearch --raw"), "{reason}");
        assert_eq!(parse_line(KMSG, Some(Format::Auditd)), Line::OtherFormat);
        assert_eq!(parse_line(KMSG, Some(Format::Journald)), Line::OtherFormat);
    }

    #[test]
    fn truncated_code_is_malformed_not_another_action() {
        for cut in [
            "code=0x7ffc000",
            "code=0x7ffc",
            "code=0x",
            "code=",
            "ip=0x7f0e450d9829",
            "arch=c00",
        ] {
            let end = KMSG.find(cut).unwrap() + cut.len();
            let line = &KMSG[..end];
            assert!(
                matches!(parse_line(line, None), Line::Malformed(_)),
                "{line}"
            );
        }
    }

    #[test]
    fn garbled_values_are_malformed() {
        for (from, to) in [
            ("arch=c000003e", "arch=c0zz003e"),
            ("syscall=63", "syscall=6x3"),
            ("pid=17087", "pid=-1"),
            ("398:3", "398"),
        ] {
            let line = KMSG.replace(from, to);
            assert!(
                matches!(parse_line(&line, None), Line::Malformed(_)),
                "{line}"
            );
        }
    }

    #[test]
    fn never_panics_on_cut_or_mangled_lines() {
        let json = serde_json::json!({"MESSAGE": KMSG, "_AUDIT_TYPE": "1326"}).to_string();
        let huge = KMSG.replace("1795384464.398", "18446744073709552.000");
        let mut seed = 0x2545_f491_u32;
        for line in [KMSG, json.as_str(), huge.as_str()] {
            for end in (0..=line.len()).filter(|&e| line.is_char_boundary(e)) {
                parse_line(&line[..end], None);
            }
            for _ in 0..2000 {
                let mut bytes = line.as_bytes().to_vec();
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let at = seed as usize % bytes.len();
                let junk = b" =\"()x:{}.\x1d";
                bytes[at] = junk[(seed >> 8) as usize % junk.len()];
                parse_line(&String::from_utf8_lossy(&bytes), None);
            }
        }
    }

    #[test]
    fn journald_both_transports() {
        let kernel =
            serde_json::json!({"MESSAGE": KMSG.split_once(';').unwrap().1, "_TRANSPORT": "kernel"});
        assert_eq!(record(&kernel.to_string()).syscall, 63);
        let audit = serde_json::json!({
            "_TRANSPORT": "audit", "_AUDIT_TYPE": "1326", "__REALTIME_TIMESTAMP": "1795384464398123",
            "MESSAGE": "SECCOMP auid=4294967295 uid=0 gid=0 ses=4294967295 pid=7 comm=\"a\" exe=\"/a\" sig=0 arch=c000003e syscall=39 compat=0 ip=0x1 code=0x80000000",
        });
        let r = record(&audit.to_string());
        assert_eq!(
            (r.pid, r.syscall, r.code, r.time_ms),
            (7, 39, 0x80000000, Some(1_795_384_464_398))
        );
        let other = serde_json::json!({"_AUDIT_TYPE": "1300", "MESSAGE": "SYSCALL arch=c000003e"});
        assert_eq!(parse_line(&other.to_string(), None), Line::OtherType);
        // journald writes a MESSAGE that is not valid UTF-8 as an array of bytes.
        let bytes: Vec<u8> = KMSG.split_once(';').unwrap().1.bytes().collect();
        let binary = serde_json::json!({"MESSAGE": bytes, "_TRANSPORT": "kernel"});
        assert_eq!(record(&binary.to_string()).syscall, 63);
        assert!(matches!(
            parse_line("{\"MESSAGE\": \"audit: ty", None),
            Line::Malformed(_)
        ));
    }
}
