//! Log lines on stderr, each stamped with the time in RFC 3339 (UTC, milliseconds): plain
//! text for people, or one JSON object per line (`--log-format json`) for a log collector,
//! with the structured fields a message carries (the agent's namespace, workload and
//! container) as keys of their own.

use log::kv::{Key, Value, VisitSource};
use std::io::Write;
use std::time::SystemTime;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `2026-12-06T19:55:29.123Z INFO  message`
    #[default]
    Text,
    /// `{"ts":"2026-12-06T19:55:29.123Z","level":"info","target":"...","message":"..."}`
    Json,
}

/// Keys every JSON line has; a field of the same name is renamed rather than lost.
const BASE_KEYS: [&str; 4] = ["ts", "level", "target", "message"];

pub fn init(level: log::LevelFilter, format: LogFormat) {
    env_logger::Builder::new()
        .filter_level(level)
        // It logs each refused registry certificate as an error of its own; the registry
        // error that follows names the certificate's problem and what to do.
        .filter_module("rustls_platform_verifier", log::LevelFilter::Off)
        .format(move |buf, record| {
            let line = Line {
                ts: SystemTime::now(),
                level: record.level(),
                target: record.target(),
                message: record.args().to_string(),
                fields: fields(record),
            };
            writeln!(buf, "{}", line.render(format))
        })
        .parse_env("SECCOMP_RECORDER_LOG")
        .init();
}

/// The last word of a failed command (not a log record: logging may be off with -q), in
/// the same format as the log lines before it.
pub fn error_line(format: LogFormat, message: &str) -> String {
    match format {
        LogFormat::Text => format!("error: {message}"),
        LogFormat::Json => Line {
            ts: SystemTime::now(),
            level: log::Level::Error,
            // The crate, as the log records name their module paths.
            target: "seccomp_recorder",
            message: message.to_string(),
            fields: Vec::new(),
        }
        .render(format),
    }
}

/// One record, ready to be written.
struct Line<'a> {
    ts: SystemTime,
    level: log::Level,
    target: &'a str,
    message: String,
    fields: Vec<(String, String)>,
}

impl Line<'_> {
    fn render(&self, format: LogFormat) -> String {
        let ts = humantime::format_rfc3339_millis(self.ts);
        match format {
            // Fields are for machines; the text message already names what it is about.
            LogFormat::Text => format!("{ts} {:<5} {}", self.level, self.message),
            LogFormat::Json => {
                let mut obj = serde_json::Map::new();
                obj.insert("ts".into(), ts.to_string().into());
                let level = self.level.as_str().to_ascii_lowercase();
                obj.insert("level".into(), level.into());
                obj.insert("target".into(), self.target.into());
                obj.insert("message".into(), self.message.clone().into());
                for (k, v) in &self.fields {
                    let key = if BASE_KEYS.contains(&k.as_str()) {
                        format!("field_{k}")
                    } else {
                        k.clone()
                    };
                    obj.insert(key, v.clone().into());
                }
                serde_json::Value::Object(obj).to_string()
            }
        }
    }
}

/// A record's structured fields, in the order given, as text.
fn fields(record: &log::Record<'_>) -> Vec<(String, String)> {
    struct Collect(Vec<(String, String)>);
    impl<'kvs> VisitSource<'kvs> for Collect {
        fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), log::kv::Error> {
            self.0.push((key.to_string(), value.to_string()));
            Ok(())
        }
    }
    let mut c = Collect(Vec::new());
    // Collecting into a Vec cannot fail.
    let _ = record.key_values().visit(&mut c);
    c.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn line(message: &str, fields: &[(&str, &str)]) -> Line<'static> {
        Line {
            // 2026-12-06T19:55:29.123Z
            ts: UNIX_EPOCH + Duration::from_millis(1_796_586_929_123),
            level: log::Level::Warn,
            target: "seccomp_recorder::agent",
            message: message.to_string(),
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn text_is_timestamp_level_message() {
        let l = line("the maps are full", &[("namespace", "shop")]);
        assert_eq!(
            l.render(LogFormat::Text),
            "2026-12-06T19:55:29.123Z WARN  the maps are full"
        );
    }

    #[test]
    fn json_has_the_base_keys_in_order_then_the_fields() {
        let l = line("recording", &[("namespace", "shop"), ("container", "web")]);
        assert_eq!(
            l.render(LogFormat::Json),
            r#"{"ts":"2026-12-06T19:55:29.123Z","level":"warn","target":"seccomp_recorder::agent","message":"recording","namespace":"shop","container":"web"}"#
        );
    }

    #[test]
    fn json_escapes_quotes_backslashes_newlines_and_controls() {
        let l = line(
            "a \"quoted\"\nsecond line\\ \u{1}",
            &[("work\"load", "x\ny")],
        );
        let out = l.render(LogFormat::Json);
        assert!(!out.contains('\n'), "one line: {out}");
        assert!(
            out.contains(r#""message":"a \"quoted\"\nsecond line\\ \u0001""#),
            "{out}"
        );
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["message"], "a \"quoted\"\nsecond line\\ \u{1}");
        assert_eq!(v["work\"load"], "x\ny");
    }

    #[test]
    fn a_field_named_like_a_base_key_is_renamed_not_lost() {
        let l = line("m", &[("message", "field"), ("level", "9")]);
        let v: serde_json::Value = serde_json::from_str(&l.render(LogFormat::Json)).unwrap();
        assert_eq!(v["message"], "m");
        assert_eq!(v["level"], "warn");
        assert_eq!(v["field_message"], "field");
        assert_eq!(v["field_level"], "9");
    }

    #[test]
    fn the_error_line_follows_the_format() {
        assert_eq!(
            error_line(LogFormat::Text, "no such file"),
            "error: no such file"
        );
        let v: serde_json::Value =
            serde_json::from_str(&error_line(LogFormat::Json, "bad \"x\"")).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["message"], "bad \"x\"");
        humantime::parse_rfc3339(v["ts"].as_str().unwrap()).unwrap();
    }
}
