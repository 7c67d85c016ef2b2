//! `--listen`: `/healthz` (ready) and `/livez` (live) for the kubelet's probes and
//! `/metrics` for Prometheus, served by a plain thread (three tiny GET endpoints need no
//! HTTP framework).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

pub use super::metrics::Metrics;

/// Binds `addr` and serves the endpoints on a thread until the process exits.
pub fn serve(addr: SocketAddr, metrics: std::sync::Arc<Metrics>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            if let Err(e) = answer(stream, &metrics) {
                log::debug!("--listen: {e}");
            }
        }
    });
    Ok(bound)
}

fn answer(stream: TcpStream, metrics: &Metrics) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(&stream);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    // Headers are read and ignored, so that the client sees the whole request consumed.
    let mut line = String::new();
    while reader.read_line(&mut line)? > 2 {
        line.clear();
    }
    let path = request.split_whitespace().nth(1).unwrap_or("");
    let (status, body, kind) = match path {
        "/healthz" => match metrics.health() {
            Ok(()) => ("200 OK", "ok\n".to_string(), "text/plain"),
            Err(why) => ("503 Service Unavailable", format!("{why}\n"), "text/plain"),
        },
        "/livez" => match metrics.liveness() {
            Ok(()) => ("200 OK", "ok\n".to_string(), "text/plain"),
            Err(why) => ("503 Service Unavailable", format!("{why}\n"), "text/plain"),
        },
        "/metrics" => (
            "200 OK",
            metrics.render(),
            "text/plain; version=0.0.4; charset=utf-8",
        ),
        _ => (
            "404 Not Found",
            "try /healthz, /livez or /metrics\n".to_string(),
            "text/plain",
        ),
    };
    let mut w = &stream;
    write!(
        w,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}
