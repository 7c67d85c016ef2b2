//! A strict reader of Prometheus' text exposition format (0.0.4), written from the format's
//! description: every line must be a HELP, a TYPE or a sample, every sample must belong to
//! a family TYPEd before it, names and label names must be valid, no series may repeat.

use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// The families' types and the samples, or what is wrong and on which line.
pub fn parse(text: &str) -> Result<(BTreeMap<String, String>, Vec<Sample>), String> {
    let mut types = BTreeMap::new();
    let mut helped = BTreeSet::new();
    let mut samples: Vec<Sample> = Vec::new();
    let mut series = BTreeSet::new();
    for (n, line) in text.lines().enumerate() {
        let at = |e: String| format!("line {}: {e}: {line:?}", n + 1);
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap_or("");
            check_name(name).map_err(at)?;
            if !helped.insert(name.to_string()) {
                return Err(at("a second HELP".into()));
            }
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').ok_or_else(|| at("no type".into()))?;
            check_name(name).map_err(at)?;
            let kinds = ["counter", "gauge", "histogram", "summary", "untyped"];
            if !kinds.contains(&kind) {
                return Err(at(format!("unknown type {kind}")));
            }
            if samples.iter().any(|s| s.name == name) {
                return Err(at("TYPE after the family's samples".into()));
            }
            if types.insert(name.to_string(), kind.to_string()).is_some() {
                return Err(at("a second TYPE".into()));
            }
        } else if line.starts_with('#') || line.is_empty() {
            continue;
        } else {
            let s = sample(line).map_err(at)?;
            if !types.contains_key(&s.name) {
                return Err(at("a sample of a family with no TYPE before it".into()));
            }
            if !series.insert(format!("{}{:?}", s.name, s.labels)) {
                return Err(at("a repeated series".into()));
            }
            samples.push(s);
        }
    }
    Ok((types, samples))
}

fn check_name(name: &str) -> Result<(), String> {
    let ok = name.chars().enumerate().all(|(i, c)| {
        c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
    });
    if name.is_empty() || !ok {
        return Err(format!("{name:?} is not a metric name"));
    }
    Ok(())
}

fn sample(line: &str) -> Result<Sample, String> {
    let end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..end];
    check_name(name)?;
    let mut rest = &line[end..];
    let mut labels = BTreeMap::new();
    if let Some(r) = rest.strip_prefix('{') {
        rest = label_pairs(r, &mut labels)?;
    }
    let value = rest.strip_prefix(' ').ok_or("no space before the value")?;
    let value = value.split(' ').next().unwrap_or("");
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().map_err(|e| format!("value {v:?}: {e}"))?,
    };
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// Reads `k="v",...}` and returns what follows the brace.
fn label_pairs<'a>(
    mut r: &'a str,
    labels: &mut BTreeMap<String, String>,
) -> Result<&'a str, String> {
    loop {
        if let Some(after) = r.strip_prefix('}') {
            return Ok(after);
        }
        let (key, after) = r.split_once("=\"").ok_or("a label without =\"")?;
        let ok = key
            .chars()
            .enumerate()
            .all(|(i, c)| c.is_ascii_alphabetic() || c == '_' || (i > 0 && c.is_ascii_digit()));
        if key.is_empty() || !ok || key.starts_with("__") {
            return Err(format!("{key:?} is not a label name"));
        }
        let mut value = String::new();
        let mut chars = after.char_indices();
        let close = loop {
            match chars.next().ok_or("an unterminated label value")? {
                (_, '\\') => match chars.next().ok_or("a dangling backslash")?.1 {
                    'n' => value.push('\n'),
                    c @ ('\\' | '"') => value.push(c),
                    c => return Err(format!("escape \\{c} is not allowed")),
                },
                (i, '"') => break i,
                (_, c) => value.push(c),
            }
        };
        if labels.insert(key.to_string(), value).is_some() {
            return Err(format!("label {key} twice"));
        }
        r = &after[close + 1..];
        r = r.strip_prefix(',').unwrap_or(r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_valid_text_and_refuses_broken_text() {
        let ok = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"q\\\"\\n\",y=\"\"} 3\n";
        let (types, s) = parse(ok).unwrap();
        assert_eq!(types["a_total"], "counter");
        assert_eq!(s[0].labels["x"], "q\"\n");
        assert_eq!(s[0].value, 3.0);
        for bad in [
            "a 1\n",
            "# TYPE a gauge\na{x=\"1} 1\n",
            "# TYPE a gauge\na{1x=\"1\"} 1\n",
            "# TYPE a gauge\na 1\na 2\n",
            "# TYPE a gauge\na one\n",
            "# TYPE a gauge\n# TYPE a gauge\n",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
