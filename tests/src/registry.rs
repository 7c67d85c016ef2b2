//! A real OCI registry (Debian's `docker-registry`, CNCF distribution) for the push/pull
//! tests, on 127.0.0.1 unless asked otherwise: its own free port, config and storage under
//! a scratch directory, stopped by PID when dropped. Each test starts its own, so tests
//! run in parallel.

use crate::{Scratch, free_port};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Registry {
    /// `<ip>:<port>`
    pub addr: String,
    /// The `user:password` the registry accepts, when it requires one.
    pub creds: Option<String>,
    child: Option<Child>,
    dir: Scratch,
}

impl Registry {
    /// An open registry: anyone may push and pull.
    pub fn start() -> Registry {
        Registry::launch("127.0.0.1", None)
    }

    /// A registry with htpasswd (bcrypt) auth accepting only `user`/`password`.
    pub fn with_auth(user: &str, password: &str) -> Registry {
        Registry::launch("127.0.0.1", Some((user, password)))
    }

    fn launch(host: &str, auth: Option<(&str, &str)>) -> Registry {
        // Another process may grab the port between our probe and the registry's bind;
        // then the registry exits and we try a fresh port.
        let mut last_log = String::new();
        for _ in 0..5 {
            let dir = Scratch::new("registry");
            let port = free_port(host);
            let config = config(&dir, host, port, auth);
            let log = std::fs::File::create(dir.path("registry.log")).unwrap();
            let child = Command::new("docker-registry")
                .arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("docker-registry is installed (cargo xtask setup installs it)");
            let mut registry = Registry {
                addr: format!("{host}:{port}"),
                creds: auth.map(|(u, p)| format!("{u}:{p}")),
                child: Some(child),
                dir,
            };
            if registry.wait_ready() {
                return registry;
            }
            last_log =
                std::fs::read_to_string(registry.dir.path("registry.log")).unwrap_or_default();
            registry.stop();
        }
        panic!("docker-registry did not start on {host} after 5 tries; last log:\n{last_log}");
    }

    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            let child = self.child.as_mut().expect("running");
            if child.try_wait().unwrap().is_some() {
                return false;
            }
            if TcpStream::connect(&self.addr).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// `<ip>:<port>/<name>`, e.g. `reference("team/app:v1")`.
    pub fn reference(&self, name: &str) -> String {
        format!("{}/{name}", self.addr)
    }

    /// Its log: one `response completed` line per request, with method and URI.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path("registry.log")).unwrap_or_default()
    }

    /// The requests the registry served, as (method, URI), from its log.
    pub fn requests(&self) -> Vec<(String, String)> {
        let field = |line: &str, key: &str| {
            let rest = line.split(&format!("{key}=")).nth(1)?;
            let value = rest
                .strip_prefix('"')
                .map_or_else(|| rest.split(' ').next(), |quoted| quoted.split('"').next())?;
            Some(value.to_string())
        };
        self.log()
            .lines()
            .filter(|l| l.contains("response completed"))
            .filter_map(|l| {
                Some((
                    field(l, "http.request.method")?,
                    field(l, "http.request.uri")?,
                ))
            })
            .collect()
    }

    /// The registry's storage root (blobs live under docker/registry/v2/blobs).
    pub fn storage(&self) -> PathBuf {
        self.dir.path("data")
    }

    /// For a registry kept in a static, which is never dropped: stopped by PID and its
    /// storage removed when the test binary exits.
    pub fn stop_at_exit(&self) {
        if let Some(child) = &self.child {
            crate::engines::register(Some(child.id()), &self.dir.0);
        }
    }

    /// Stops the registry; calling it again does nothing.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The manifest at `reference` (`host:port/name:tag`) as skopeo, the containers/image
/// library CRI-O uses, fetches it.
pub fn raw_manifest(reference: &str) -> Vec<u8> {
    crate::engines::run_ok(Command::new("skopeo").args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{reference}"),
    ]))
    .stdout
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

fn config(dir: &Scratch, host: &str, port: u16, auth: Option<(&str, &str)>) -> PathBuf {
    let data = dir.path("data");
    std::fs::create_dir_all(&data).unwrap();
    let mut yaml = format!(
        "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n  \
         delete:\n    enabled: true\nhttp:\n  addr: {host}:{port}\n  secret: test-only-secret\n",
        data.display()
    );
    if let Some((user, password)) = auth {
        let htpasswd = dir.path("htpasswd");
        let out = Command::new("htpasswd")
            .args(["-Bbn", user, password])
            .output()
            .expect("htpasswd is installed (apache2-utils; cargo xtask setup installs it)");
        assert!(
            out.status.success(),
            "htpasswd failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(&htpasswd, &out.stdout).unwrap();
        yaml.push_str(&format!(
            "auth:\n  htpasswd:\n    realm: test-realm\n    path: {}\n",
            htpasswd.display()
        ));
    }
    let path = dir.path("config.yml");
    std::fs::write(&path, yaml).unwrap();
    path
}
