//! Checks of the recorder's log lines on stderr, with coreutils' `date` as the judge of
//! their timestamps rather than the recorder's own formatting code.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the epoch, now.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Asserts that `ts` is an RFC 3339 UTC time with milliseconds
/// (`2026-12-06T19:55:29.123Z`) between `from` and now (seconds since the epoch).
pub fn assert_timestamp(ts: &str, from: f64) {
    let shape = ts.len() == 24
        && ts.char_indices().all(|(i, c)| match i {
            4 | 7 => c == '-',
            10 => c == 'T',
            13 | 16 => c == ':',
            19 => c == '.',
            23 => c == 'Z',
            _ => c.is_ascii_digit(),
        });
    assert!(
        shape,
        "not an RFC 3339 UTC timestamp with milliseconds: {ts:?}"
    );
    let out = Command::new("date")
        .args(["-u", "-d", ts, "+%s.%N"])
        .output()
        .expect("date (coreutils)");
    let text = String::from_utf8_lossy(&out.stdout);
    let secs: f64 = text
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("date cannot read {ts:?}: {text}"));
    // Milliseconds are truncated: the first line may read up to 1 ms before `from`.
    assert!(
        secs >= from - 0.002 && secs <= now() + 0.002,
        "timestamp {ts} is not between the command's start and now"
    );
}

/// Every line of `stderr` parsed as one JSON object with a timestamp (checked against
/// `from`), a level, a target and a message.
pub fn json_lines(stderr: &str, from: f64) -> Vec<serde_json::Value> {
    assert!(!stderr.trim().is_empty(), "nothing on stderr");
    stderr
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("stderr line is not JSON ({e}): {line}"));
            let ts = v["ts"].as_str().unwrap_or_else(|| panic!("no ts: {line}"));
            assert_timestamp(ts, from);
            let level = v["level"].as_str().unwrap_or_default();
            assert!(
                ["error", "warn", "info", "debug", "trace"].contains(&level),
                "bad level: {line}"
            );
            assert!(v["target"].is_string(), "no target: {line}");
            assert!(v["message"].is_string(), "no message: {line}");
            v
        })
        .collect()
}
