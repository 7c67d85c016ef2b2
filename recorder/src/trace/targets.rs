//! The tracer's target maps: which cgroups are recorded, the ones the kernel had no room
//! for, and the cgroups born while following.

use super::{TraceError, Tracer, map_err};
use aya::maps::{Array, HashMap as BpfHashMap, MapData, MapError};
use recorder_ebpf::{Born, Seen, maps};
use std::collections::BTreeMap;

impl Tracer {
    /// Makes `cgroup` a target (its syscalls are recorded from now on); fails with
    /// [`TraceError::Full`] when TARGETS has no room for it.
    pub fn add_target(&mut self, cgroup: u64) -> Result<(), TraceError> {
        let capacity = self.capacity;
        let mut map: BpfHashMap<_, _, _> = self.map_mut(&maps::TARGETS)?;
        map.insert(cgroup, Seen::ZERO, 0).map_err(|e| match &e {
            MapError::SyscallError(s) if s.io_error.raw_os_error() == Some(libc::E2BIG) => {
                TraceError::Full { capacity }
            }
            _ => map_err("insert into", maps::TARGETS.name)(e),
        })?;
        self.scan.push(cgroup);
        self.write_scan()
    }

    /// Records `child` (a cgroup that already existed under a target) into `owner`'s set.
    pub(crate) fn add_child(&mut self, child: u64, owner: u64) -> Result<(), TraceError> {
        self.add_target(child)?;
        let mut map: BpfHashMap<_, _, _> = self.map_mut(&maps::PARENT)?;
        map.insert(child, owner, 0)
            .map_err(map_err("insert into", maps::PARENT.name))
    }

    /// How many cgroups TARGETS holds.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// How many new cgroups the kernel could not make targets because TARGETS was full,
    /// since loading.
    pub fn refused(&self) -> Result<u64, TraceError> {
        let full: Array<&MapData, u64> = self.map(&maps::TARGETS_FULL)?;
        full.get(&0, 0)
            .map_err(map_err("read", maps::TARGETS_FULL.name))
    }

    /// Whether `cgroup` is being recorded: a cgroup the kernel had no room for is not.
    pub(crate) fn is_target(&self, cgroup: u64) -> Result<bool, TraceError> {
        let map: BpfHashMap<_, u64, Seen> = self.map(&maps::TARGETS)?;
        match map.get(&cgroup, 0) {
            Ok(_) => Ok(true),
            Err(MapError::KeyNotFound) => Ok(false),
            Err(e) => Err(map_err("read", maps::TARGETS.name)(e)),
        }
    }

    /// Stops recording `cgroup` and frees its entry (a followed cgroup that turned out not
    /// to be a container). Its syscalls so far are lost.
    pub(crate) fn remove_target(&mut self, cgroup: u64) -> Result<(), TraceError> {
        let mut map: BpfHashMap<_, _, _> = self.map_mut(&maps::TARGETS)?;
        match map.remove(&cgroup) {
            Err(e) if !absent(&e) => Err(map_err("remove from", maps::TARGETS.name)(e)),
            _ => Ok(()),
        }
    }

    /// Frees a BORN entry user space has read.
    pub(crate) fn remove_born(&mut self, cgroup: u64) -> Result<(), TraceError> {
        let mut map: BpfHashMap<_, _, _> = self.map_mut(&maps::BORN)?;
        match map.remove(&cgroup) {
            Err(e) if !absent(&e) => Err(map_err("remove from", maps::BORN.name)(e)),
            _ => Ok(()),
        }
    }

    /// Follow mode: the cgroups made since loading, as id -> (parent id, directory name).
    pub(crate) fn born(&self) -> Result<BTreeMap<u64, (u64, String)>, TraceError> {
        let map: BpfHashMap<_, u64, Born> = self.map(&maps::BORN)?;
        let mut out = BTreeMap::new();
        for entry in map.iter() {
            let (id, b) = entry.map_err(map_err("read", maps::BORN.name))?;
            let len = b.name.iter().position(|c| *c == 0).unwrap_or(b.name.len());
            let name = String::from_utf8_lossy(&b.name[..len]).into_owned();
            out.insert(id, (b.parent, name));
        }
        Ok(out)
    }
}

/// Whether a removal failed only because the key was not there, as for a new cgroup the
/// kernel had no room for: aya 0.14 reports that as the syscall's ENOENT.
fn absent(e: &MapError) -> bool {
    match e {
        MapError::KeyNotFound => true,
        MapError::SyscallError(s) => s.io_error.raw_os_error() == Some(libc::ENOENT),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aya::sys::SyscallError;

    fn failed(errno: i32) -> MapError {
        MapError::SyscallError(SyscallError {
            call: "bpf_map_delete_elem",
            io_error: std::io::Error::from_raw_os_error(errno),
        })
    }

    #[test]
    fn a_missing_key_is_absent_and_other_failures_are_errors() {
        assert!(absent(&failed(libc::ENOENT)));
        assert!(absent(&MapError::KeyNotFound));
        assert!(!absent(&failed(libc::EPERM)));
        assert!(!absent(&failed(libc::EINVAL)));
    }
}
