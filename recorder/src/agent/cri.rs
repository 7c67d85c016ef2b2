//! A blocking client for the few CRI calls the agent makes, over the runtime's unix socket.
//!
//! The agent's loop is synchronous (it polls eBPF maps and cgroup files), so each call
//! runs to completion on a private single-threaded tokio runtime.

use hyper_util::rt::TokioIo;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::{
    Container, ContainerFilter, ContainerStatusRequest, ContainerStatusResponse, GetEventsRequest,
    ListContainersRequest, ListPodSandboxRequest, PodSandbox, VersionRequest,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tonic::transport::{Channel, Endpoint, Uri};

/// crictl's default endpoints, tried in this order when none is given.
pub const DEFAULT_ENDPOINTS: &[&str] = &[
    "unix:///run/containerd/containerd.sock",
    "unix:///run/crio/crio.sock",
    "unix:///var/run/cri-dockerd.sock",
];

/// A CRI call has to answer within this long, or the agent treats the runtime as down.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum CriError {
    #[error(
        "runtime endpoint '{0}' is not a unix socket: give unix:///path/to/socket or an \
         absolute path (crictl's --runtime-endpoint)"
    )]
    Endpoint(String),
    #[error("cannot start the CRI client: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("cannot reach the container runtime at {endpoint}: {detail}")]
    Unreachable { endpoint: String, detail: String },
    #[error(
        "CRI {call} on {endpoint} failed ({}): {}",
        .status.code().description(),
        status_text(.status)
    )]
    Call {
        call: &'static str,
        endpoint: String,
        #[source]
        status: tonic::Status,
    },
}

/// The status message with what caused it (a broken pipe, a refused connection); tonic
/// repeats its causes in its messages, so what is said already is left out.
fn status_text(status: &tonic::Status) -> String {
    let mut text = status.message().to_string();
    let mut cause = std::error::Error::source(status);
    while let Some(c) = cause {
        let part = c.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = c.source();
    }
    text
}

/// The socket path of an endpoint in crictl's syntax.
pub fn socket_path(endpoint: &str) -> Result<PathBuf, CriError> {
    let path = endpoint.strip_prefix("unix://").unwrap_or(endpoint);
    if !path.starts_with('/') {
        return Err(CriError::Endpoint(endpoint.to_string()));
    }
    Ok(PathBuf::from(path))
}

pub struct Cri {
    rt: tokio::runtime::Runtime,
    client: RuntimeServiceClient<Channel>,
    endpoint: String,
    /// The runtime's name and version, as Version reports them (`containerd`, `1.6.20~ds1`).
    pub name: String,
    pub version: String,
}

impl Cri {
    /// Connects and asks the runtime its version, so that a socket that is not a CRI
    /// server fails here rather than at the first real call.
    pub fn connect(endpoint: &str) -> Result<Cri, CriError> {
        let path = socket_path(endpoint)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(CriError::Runtime)?;
        let unreachable = |detail: String| CriError::Unreachable {
            endpoint: endpoint.to_string(),
            detail,
        };
        if !path.exists() {
            return Err(unreachable("no such socket".into()));
        }
        let channel = rt
            .block_on(channel(&path))
            .map_err(|e| unreachable(crate::trace::chain(&e)))?;
        let mut cri = Cri {
            rt,
            client: RuntimeServiceClient::new(channel),
            endpoint: endpoint.to_string(),
            name: String::new(),
            version: String::new(),
        };
        let v = cri.call("Version", |mut c| async move {
            c.version(VersionRequest {
                version: "v1".into(),
            })
            .await
        })?;
        cri.name = v.runtime_name;
        cri.version = v.runtime_version;
        Ok(cri)
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn call<T, F, Fut>(&mut self, call: &'static str, f: F) -> Result<T, CriError>
    where
        F: FnOnce(RuntimeServiceClient<Channel>) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let fut = f(self.client.clone());
        let r = self.rt.block_on(async {
            tokio::time::timeout(CALL_TIMEOUT, fut)
                .await
                .unwrap_or_else(|_| Err(tonic::Status::deadline_exceeded("no answer in 10s")))
        });
        r.map(tonic::Response::into_inner)
            .map_err(|status| CriError::Call {
                call,
                endpoint: self.endpoint.clone(),
                status,
            })
    }

    pub fn sandboxes(&mut self) -> Result<Vec<PodSandbox>, CriError> {
        self.call("ListPodSandbox", |mut c| async move {
            c.list_pod_sandbox(ListPodSandboxRequest { filter: None })
                .await
        })
        .map(|r| r.items)
    }

    pub fn containers(&mut self) -> Result<Vec<Container>, CriError> {
        self.call("ListContainers", |mut c| async move {
            c.list_containers(ListContainersRequest { filter: None })
                .await
        })
        .map(|r| r.containers)
    }

    /// The container with this ID; `None` when the runtime does not know it (a sandbox's
    /// ID, or a container already removed).
    pub fn container(&mut self, id: &str) -> Result<Option<Container>, CriError> {
        let filter = ContainerFilter {
            id: id.to_string(),
            ..ContainerFilter::default()
        };
        self.call("ListContainers", |mut c| async move {
            c.list_containers(ListContainersRequest {
                filter: Some(filter),
            })
            .await
        })
        .map(|r| r.containers.into_iter().find(|c| c.id == id))
    }

    /// A container's status with the runtime's verbose info (pid, runtime spec); `None`
    /// when the runtime does not know the ID (a sandbox's, or a container already removed).
    pub fn container_status(
        &mut self,
        id: &str,
    ) -> Result<Option<ContainerStatusResponse>, CriError> {
        let id = id.to_string();
        match self.call("ContainerStatus", |mut c| async move {
            c.container_status(ContainerStatusRequest {
                container_id: id,
                verbose: true,
            })
            .await
        }) {
            Ok(r) => Ok(Some(r)),
            Err(CriError::Call { status, .. }) if status.code() == tonic::Code::NotFound => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Follows GetContainerEvents on a thread of its own and sends each event's container
    /// ID. A runtime without it (containerd 1.6) just sends nothing and is polled. A stream
    /// that ends after it ran (the runtime restarted) is opened again, polled meanwhile.
    pub fn events(&self) -> Events {
        let (tx, ids) = std::sync::mpsc::channel();
        let live = Arc::new(AtomicBool::new(false));
        let endpoint = self.endpoint.clone();
        let flag = live.clone();
        std::thread::spawn(move || {
            loop {
                let (ran, e) = follow_events(&endpoint, &tx, &flag);
                flag.store(false, Ordering::Relaxed);
                let Some(e) = e else { return };
                if !ran {
                    log::info!("no container events from {endpoint} ({e}); polling the CRI");
                    return;
                }
                log::warn!("container events from {endpoint} stopped ({e}); polling the CRI");
                std::thread::sleep(EVENTS_RETRY);
            }
        });
        Events { ids, live }
    }
}

/// How soon a stream that ended is opened again.
const EVENTS_RETRY: Duration = Duration::from_secs(5);

/// The runtime's container events: the IDs they name, and whether the stream is open now
/// (then a poll is only a resync: an exit is an event).
pub struct Events {
    pub ids: std::sync::mpsc::Receiver<String>,
    live: Arc<AtomicBool>,
}

impl Events {
    pub fn live(&self) -> bool {
        self.live.load(Ordering::Relaxed)
    }
}

/// Whether the stream was opened, and why it ended (`None`: the agent is stopping).
fn follow_events(
    endpoint: &str,
    tx: &std::sync::mpsc::Sender<String>,
    live: &AtomicBool,
) -> (bool, Option<String>) {
    let path = match socket_path(endpoint) {
        Ok(p) => p,
        Err(e) => return (false, Some(e.to_string())),
    };
    // Its own runtime and connection: the main one only runs while a call is in flight.
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return (false, Some(e.to_string())),
    };
    rt.block_on(async {
        let channel = match channel(&path).await {
            Ok(c) => c,
            Err(e) => return (false, Some(crate::trace::chain(&e))),
        };
        let mut stream = match RuntimeServiceClient::new(channel)
            .get_container_events(GetEventsRequest {})
            .await
        {
            Ok(s) => s.into_inner(),
            Err(s) => return (false, Some(s.message().to_string())),
        };
        let mut ran = false;
        loop {
            match stream.message().await {
                Ok(Some(ev)) => {
                    if !ran {
                        // CRI-O opens the stream with its first event; a runtime that
                        // ends it at once never gets here.
                        ran = true;
                        live.store(true, Ordering::Relaxed);
                        log::info!("following container events from {endpoint}");
                    }
                    if tx.send(ev.container_id).is_err() {
                        return (true, None);
                    }
                }
                Ok(None) => return (ran, Some("the event stream ended".into())),
                Err(status) => return (ran, Some(status.message().to_string())),
            }
        }
    })
}

async fn channel(path: &Path) -> Result<Channel, tonic::transport::Error> {
    let path = path.to_path_buf();
    // The URI is required by the API and ignored by the connector.
    Endpoint::from_static("http://[::]:0")
        .connect_timeout(CALL_TIMEOUT)
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(path).await?;
                Ok::<_, std::io::Error>(TokioIo::new(stream))
            }
        }))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_in_crictl_syntax() {
        assert_eq!(
            socket_path("unix:///run/containerd/containerd.sock").unwrap(),
            Path::new("/run/containerd/containerd.sock")
        );
        assert_eq!(
            socket_path("/run/crio/crio.sock").unwrap(),
            Path::new("/run/crio/crio.sock")
        );
        assert!(socket_path("tcp://127.0.0.1:1234").is_err());
        assert!(socket_path("unix://relative.sock").is_err());
    }
}
