//! A real OCI registry (Debian's `docker-registry`, CNCF distribution) for the push/pull
//! tests, on 127.0.0.1 unless asked otherwise: its own free port, config and storage under
//! a scratch directory, stopped by PID when dropped. Each test starts its own, so tests
//! run in parallel.
//!
//! [`Registry::with_tls`] serves HTTPS only, with a certificate from a CA of its own made
//! by `openssl`, and is reached by this machine's host name: the tool speaks plain HTTP to
//! "localhost" and loopback addresses, HTTPS to any other name.

use crate::{Scratch, free_port};
use std::net::{IpAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Registry {
    /// `<ip>:<port>`
    pub addr: String,
    /// The `user:password` the registry accepts, when it requires one.
    pub creds: Option<String>,
    /// For an HTTPS registry: the PEM certificate of the CA that signed its certificate.
    pub ca: Option<PathBuf>,
    child: Option<Child>,
    dir: Scratch,
}

/// How a registry is started: where it listens, the name it is reached by, its auth and,
/// when it serves HTTPS, the name its certificate is issued for.
struct Options<'a> {
    ip: IpAddr,
    name: String,
    auth: Option<(&'a str, &'a str)>,
    tls: Option<String>,
    /// The server certificate is signed by an intermediate CA the CA signed.
    intermediate: bool,
}

impl Registry {
    /// An open registry: anyone may push and pull.
    pub fn start() -> Registry {
        Registry::launch(Options {
            ip: IpAddr::from([127, 0, 0, 1]),
            name: "127.0.0.1".to_string(),
            auth: None,
            tls: None,
            intermediate: false,
        })
    }

    /// A registry with htpasswd (bcrypt) auth accepting only `user`/`password`.
    pub fn with_auth(user: &str, password: &str) -> Registry {
        Registry::launch(Options {
            ip: IpAddr::from([127, 0, 0, 1]),
            name: "127.0.0.1".to_string(),
            auth: Some((user, password)),
            tls: None,
            intermediate: false,
        })
    }

    /// An open registry that serves only HTTPS, its certificate signed by a CA made for
    /// it ([`Registry::ca`]), at `<this machine's host name>:<port>`.
    pub fn with_tls() -> Registry {
        let (name, ip) = host_name();
        Registry::launch(Options {
            ip,
            tls: Some(name.clone()),
            name,
            auth: None,
            intermediate: false,
        })
    }

    /// An HTTPS registry as a company runs one: htpasswd auth accepting only
    /// `user`/`password`, and a certificate signed by an intermediate CA, which it sends
    /// along; [`Registry::ca`] is the root.
    pub fn with_tls_and_auth(user: &str, password: &str) -> Registry {
        let (name, ip) = host_name();
        Registry::launch(Options {
            ip,
            tls: Some(name.clone()),
            name,
            auth: Some((user, password)),
            intermediate: true,
        })
    }

    /// An open plain-HTTP registry at `<this machine's host name>:<port>`: the tool speaks
    /// HTTPS to it unless told `--insecure`.
    pub fn plain_on_host_name() -> Registry {
        let (name, ip) = host_name();
        Registry::launch(Options {
            ip,
            name,
            auth: None,
            tls: None,
            intermediate: false,
        })
    }

    /// As [`Registry::with_tls`], but its certificate is issued for `other` only, not for
    /// the name it is reached by.
    pub fn with_tls_for(other: &str) -> Registry {
        let (name, ip) = host_name();
        Registry::launch(Options {
            ip,
            name,
            auth: None,
            tls: Some(other.to_string()),
            intermediate: false,
        })
    }

    fn launch(o: Options<'_>) -> Registry {
        // Another process may grab the port between our probe and the registry's bind;
        // then the registry exits and we try a fresh port.
        let mut last_log = String::new();
        let host = o.ip.to_string();
        for _ in 0..5 {
            let dir = Scratch::new("registry");
            let port = free_port(&host);
            let ca = (o.tls.as_ref()).map(|issued| certificates(&dir, issued, o.intermediate));
            let config = config(&dir, &format!("{host}:{port}"), o.auth, ca.is_some());
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
                addr: format!("{}:{port}", o.name),
                creds: o.auth.map(|(u, p)| format!("{u}:{p}")),
                ca,
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

    /// The CA certificate of an HTTPS registry, as a directory that holds only it, for
    /// skopeo's `--cert-dir` (containers/image trusts the `*.crt` there).
    pub fn cert_dir(&self) -> PathBuf {
        let ca = self
            .ca
            .as_ref()
            .expect("an HTTPS registry (Registry::with_tls)");
        ca.parent().unwrap().join("skopeo-certs")
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

fn config(dir: &Scratch, addr: &str, auth: Option<(&str, &str)>, tls: bool) -> PathBuf {
    let data = dir.path("data");
    std::fs::create_dir_all(&data).unwrap();
    let mut yaml = format!(
        "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n  \
         delete:\n    enabled: true\nhttp:\n  addr: {addr}\n  secret: test-only-secret\n",
        data.display()
    );
    if tls {
        yaml.push_str(&format!(
            "  tls:\n    certificate: {}\n    key: {}\n",
            dir.path("tls/chain.crt").display(),
            dir.path("tls/server.key").display()
        ));
    }
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

/// This machine's host name and the address it resolves to. The HTTPS registry is reached
/// by it because the tool speaks HTTPS to any name but "localhost" and loopback literals.
/// Debian's installer, and this project's CI machine, map it in /etc/hosts (to 127.0.0.1
/// or 127.0.1.1); a machine where it does not resolve fails here, saying so.
fn host_name() -> (String, IpAddr) {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string();
    assert!(
        !name.is_empty() && name != "localhost" && name.parse::<IpAddr>().is_err(),
        "the HTTPS registry tests reach the registry by this machine's host name, and it is \
         {name:?}: give the machine a name of its own (hostnamectl) mapped in /etc/hosts"
    );
    let ip = (name.as_str(), 0)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.find(|a| a.is_ipv4()))
        .map(|a| a.ip());
    let ip = ip.unwrap_or_else(|| {
        panic!(
            "the HTTPS registry tests reach the registry by this machine's host name {name:?}, \
             which resolves to no IPv4 address; map it in /etc/hosts (`127.0.1.1 {name}`, as \
             Debian's installer does)"
        )
    });
    assert!(
        std::net::TcpListener::bind((ip, 0)).is_ok(),
        "this machine's host name {name:?} resolves to {ip}, an address not on this machine; \
         the HTTPS registry tests listen there: map the name to 127.0.1.1 in /etc/hosts"
    );
    (name, ip)
}

/// A CA and a server certificate for `name` signed by it (through an intermediate CA when
/// `intermediate`), under `<dir>/tls`; returns the CA certificate (also copied alone into
/// `<dir>/tls/skopeo-certs`). The registry sends `chain.crt`: its certificate, then the
/// intermediate's, as servers with such a chain do.
fn certificates(dir: &Scratch, name: &str, intermediate: bool) -> PathBuf {
    let tls = dir.path("tls");
    let ca = make_ca(&tls, "ca");
    let mut signer = "ca";
    if intermediate {
        issue(
            &tls,
            "intermediate",
            "/CN=seccomp-recorder-test-intermediate",
            "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n",
            signer,
        );
        signer = "intermediate";
    }
    issue(
        &tls,
        "server",
        &format!("/CN={name}"),
        &format!(
            "subjectAltName=DNS:{name}\nbasicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
        ),
        signer,
    );
    let mut chain = std::fs::read(tls.join("server.crt")).unwrap();
    if intermediate {
        chain.extend(std::fs::read(tls.join("intermediate.crt")).unwrap());
    }
    std::fs::write(tls.join("chain.crt"), chain).unwrap();
    let certs = tls.join("skopeo-certs");
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::copy(&ca, certs.join("ca.crt")).unwrap();
    ca
}

/// `<dir>/<stem>.crt` for `subject` with the extensions `ext`, signed by `<dir>/<signer>`.
fn issue(dir: &Path, stem: &str, subject: &str, ext: &str, signer: &str) {
    let t = |file: String| dir.join(file).display().to_string();
    std::fs::write(dir.join(format!("{stem}.ext")), ext).unwrap();
    openssl(&format!(
        "req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout {} -out {} -subj {subject}",
        t(format!("{stem}.key")),
        t(format!("{stem}.csr"))
    ));
    // -CAcreateserial: a random serial, so no two certificates of one issuer share one.
    openssl(&format!(
        "x509 -req -in {} -CA {} -CAkey {} -CAcreateserial -days 2 -out {} -extfile {}",
        t(format!("{stem}.csr")),
        t(format!("{signer}.crt")),
        t(format!("{signer}.key")),
        t(format!("{stem}.crt")),
        t(format!("{stem}.ext"))
    ));
}

/// A self-signed CA certificate `<dir>/<stem>.crt` (key `<stem>.key`), made by openssl.
pub fn make_ca(dir: &Path, stem: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let crt = dir.join(format!("{stem}.crt"));
    let key = dir.join(format!("{stem}.key"));
    // Paths under the scratch directory have no spaces.
    openssl(&format!(
        "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout {} -out {} \
         -days 2 -subj /CN=seccomp-recorder-test-{stem} \
         -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign",
        key.display(),
        crt.display()
    ));
    crt
}

/// Runs openssl with `args`, separated by white space.
fn openssl(args: &str) {
    let out = Command::new("openssl")
        .args(args.split_whitespace())
        .output()
        .expect("openssl is installed (cargo xtask setup installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
