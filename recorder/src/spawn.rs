//! Starting the recorded command straight inside its cgroup.
//!
//! `clone3(CLONE_INTO_CGROUP)` makes the child a member of the cgroup from its first
//! instruction, and the child does nothing but `execve`: so the recording holds the
//! command's own syscalls (and that one `execve`, which every profile needs anyway), and
//! none of the recorder's.

use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("{0}: command not found (searched PATH)")]
    NotFound(String),
    #[error("cannot run {cmd}")]
    Exec { cmd: String, source: std::io::Error },
    #[error("clone3(CLONE_INTO_CGROUP) failed: {0} (needs Linux 5.7+ and cgroup v2)")]
    Clone(std::io::Error),
    #[error("{0} contains a NUL byte")]
    Nul(String),
}

/// A started command.
pub(crate) struct Child {
    pub(crate) pid: libc::pid_t,
    pub(crate) pidfd: OwnedFd,
}

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_PIDFD: u64 = 0x1000;
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Starts `argv` in the cgroup open as `cgroup_dir`; with `stdout_to_stderr`, its stdout
/// is our stderr.
pub(crate) fn spawn(
    argv: &[OsString],
    cgroup_dir: &std::fs::File,
    stdout_to_stderr: bool,
) -> Result<Child, SpawnError> {
    let display = argv[0].to_string_lossy().into_owned();
    let Exec {
        path_c,
        args_c,
        env_c,
    } = Exec::new(argv, &display)?;
    let mut argv_p: Vec<*const libc::c_char> = args_c.iter().map(|a| a.as_ptr()).collect();
    argv_p.push(std::ptr::null());
    let mut envp_p: Vec<*const libc::c_char> = env_c.iter().map(|a| a.as_ptr()).collect();
    envp_p.push(std::ptr::null());
    let (err_read, err_write) = pipe()?;
    // The child inherits our ignored signals across execve; Rust ignores SIGPIPE.
    // SAFETY: resetting a disposition to its default.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };

    let mut pidfd: libc::c_int = -1;
    let args = CloneArgs {
        flags: CLONE_PIDFD | CLONE_INTO_CGROUP,
        pidfd: &mut pidfd as *mut libc::c_int as u64,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: cgroup_dir.as_raw_fd() as u64,
        ..Default::default()
    };
    // SAFETY: clone3 without CLONE_VM is fork(): the child gets a copy of our memory and
    // only calls execve and _exit, both async-signal-safe raw syscalls.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if pid == 0 {
        // SAFETY: see above; every pointer was prepared before the clone.
        unsafe {
            if stdout_to_stderr {
                libc::syscall(libc::SYS_dup3, 2, 1, 0);
            }
            libc::syscall(
                libc::SYS_execve,
                path_c.as_ptr(),
                argv_p.as_ptr(),
                envp_p.as_ptr(),
            );
            let errno = *libc::__errno_location();
            libc::write(
                err_write.as_raw_fd(),
                &errno as *const i32 as *const libc::c_void,
                4,
            );
            libc::_exit(127);
        }
    }
    if pid < 0 {
        return Err(SpawnError::Clone(std::io::Error::last_os_error()));
    }
    drop(err_write);
    // SAFETY: the kernel handed us this fd through CLONE_PIDFD.
    let child = Child {
        pid: pid as libc::pid_t,
        pidfd: unsafe { OwnedFd::from_raw_fd(pidfd) },
    };
    exec_result(child, &err_read, display)
}

/// The program, arguments and environment of an `execve`, as C strings made before the
/// clone: the child may only call async-signal-safe functions, so it allocates nothing.
struct Exec {
    path_c: CString,
    args_c: Vec<CString>,
    env_c: Vec<CString>,
}

impl Exec {
    fn new(argv: &[OsString], display: &str) -> Result<Exec, SpawnError> {
        let path = find_program(&argv[0]).ok_or_else(|| SpawnError::NotFound(display.into()))?;
        let path_c = cstring(path.as_os_str())?;
        let args_c = argv.iter().map(|a| cstring(a)).collect::<Result<_, _>>()?;
        let env_c = std::env::vars_os()
            .map(|(k, v)| {
                let mut kv = k;
                kv.push("=");
                kv.push(v);
                cstring(&kv)
            })
            .collect::<Result<_, _>>()?;
        Ok(Exec {
            path_c,
            args_c,
            env_c,
        })
    }
}

/// The started child, or why its `execve` failed: the errno it wrote to `err_read`
/// (then it is reaped).
fn exec_result(child: Child, err_read: &OwnedFd, display: String) -> Result<Child, SpawnError> {
    let mut buf = [0u8; 4];
    // SAFETY: reading into a local buffer; EOF means execve succeeded (the pipe is CLOEXEC).
    let n = unsafe {
        libc::read(
            err_read.as_raw_fd(),
            buf.as_mut_ptr() as *mut libc::c_void,
            4,
        )
    };
    if n == 4 {
        let _ = wait(&child);
        let source = std::io::Error::from_raw_os_error(i32::from_ne_bytes(buf));
        return Err(SpawnError::Exec {
            cmd: display,
            source,
        });
    }
    Ok(child)
}

/// How the command ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

impl Exit {
    /// The status a shell reports: the exit code, or 128 + the signal.
    pub fn shell_status(self) -> i32 {
        match self {
            Exit::Code(code) => code,
            Exit::Signal(sig) => 128 + sig,
        }
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Code(code) => write!(f, "exited with status {code}"),
            Exit::Signal(sig) => {
                // SAFETY: strsignal returns a static description for any number.
                let name = unsafe { std::ffi::CStr::from_ptr(libc::strsignal(*sig)) };
                write!(f, "was killed by signal {sig} ({})", name.to_string_lossy())
            }
        }
    }
}

/// Waits for the child.
pub(crate) fn wait(child: &Child) -> Exit {
    let mut status = 0;
    // SAFETY: waiting for our own child.
    let r = unsafe { libc::waitpid(child.pid, &mut status, 0) };
    if r < 0 {
        return Exit::Code(1);
    }
    if libc::WIFEXITED(status) {
        Exit::Code(libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        Exit::Signal(libc::WTERMSIG(status))
    } else {
        Exit::Code(1)
    }
}

/// Sends `sig` to the child through its pidfd (never to a recycled PID).
pub(crate) fn signal(child: &Child, sig: i32) {
    // SAFETY: pidfd_send_signal on a pidfd we own.
    unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            child.pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<u8>(),
            0,
        );
    }
}

fn cstring(s: &OsStr) -> Result<CString, SpawnError> {
    CString::new(s.as_bytes()).map_err(|_| SpawnError::Nul(s.to_string_lossy().into_owned()))
}

fn pipe() -> Result<(OwnedFd, OwnedFd), SpawnError> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two fds we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(SpawnError::Clone(std::io::Error::last_os_error()));
    }
    // SAFETY: fresh fds from pipe2.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Resolves the program like execvp, but before the fork: the child must not try (and be
/// recorded making) one failing execve per PATH entry.
fn find_program(name: &OsStr) -> Option<PathBuf> {
    if name.as_bytes().contains(&b'/') {
        return Some(PathBuf::from(name));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
