//! seccomp-recorder: record the system calls a workload makes with eBPF and turn them into
//! a minimal seccomp profile.
//!
//! The CLI (`src/main.rs`, `src/cli/`) is a thin layer over this library.

pub mod agent;
pub mod arch;
pub mod audit;
pub mod btf;
pub mod cgroup;
pub mod diff;
pub mod engine;
pub mod engine_version;
pub mod fleet;
mod follow;
pub mod kep6061;
pub mod linux;
pub mod oci;
pub mod output;
pub mod profile;
pub mod record;
pub mod refusals;
pub mod runtime_default;
pub mod spawn;
pub mod target;
pub mod trace;
pub mod version;
