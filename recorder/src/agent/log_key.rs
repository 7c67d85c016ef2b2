/// A log line about one profile: its namespace, workload and container go along as
/// structured fields, each a key of its own with `--log-format json`.
macro_rules! log_key {
    ($level:ident, $key:expr, $($arg:tt)+) => {{
        let k: &crate::fleet::names::Key = $key;
        log::$level!(
            namespace = k.namespace.as_str(),
            workload = k.workload.as_str(),
            container = k.container.as_str();
            $($arg)+
        )
    }};
}
