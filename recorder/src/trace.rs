//! Loading, attaching and reading the kernel side.
//!
//! One object carries three `sys_enter` entry points; the cheapest the kernel accepts is
//! attached: BTF tracepoint, else raw tracepoint, else the classic tracepoint (which also
//! needs tracefs and depends on the trace record layout).

use crate::arch::Arch;
use crate::btf::{Btf, BtfError};
use aya::maps::{HashMap as BpfHashMap, MapData};
use aya::programs::{BtfTracePoint, RawTracePoint, TracePoint};
use aya::{Ebpf, EbpfLoader};
use recorder_ebpf::{
    ABI_ARM_PRIVATE, ABI_COMPAT, ABI_NATIVE, ABI_X32, Born, COMPAT_ARM64, COMPAT_NONE, COMPAT_X86,
    NR_SLOTS, OddKey, SCAN_SLOTS, Scan, Seen,
};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/recorder-ebpf"));

#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error(
        "missing privileges: recording needs {0} (run as root, or grant CAP_BPF, CAP_PERFMON \
         and CAP_SYS_ADMIN, e.g. with setcap or a privileged container)"
    )]
    Privileges(String),
    #[error(transparent)]
    Btf(#[from] BtfError),
    #[error("cannot load the eBPF program: {0}")]
    Load(String),
    #[error(
        "following new cgroups needs the cgroup_mkdir BTF tracepoint and cgroup fields in the \
         kernel's BTF: {0}"
    )]
    Follow(String),
    #[error("the kernel accepted no sys_enter attach point: {0}")]
    Attach(String),
    #[error("cannot {what} the {map} map: {msg}")]
    Map {
        what: &'static str,
        map: &'static str,
        msg: String,
    },
}

/// How the program is attached to `sys_enter`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachKind {
    /// `tp_btf/sys_enter`: direct argument access, the cheapest.
    Btf,
    /// `raw_tp/sys_enter`.
    Raw,
    /// `tracepoint/raw_syscalls/sys_enter`: the slowest; needs tracefs.
    Tracepoint,
}

impl AttachKind {
    fn program(self) -> &'static str {
        match self {
            AttachKind::Btf => "sys_enter_btf",
            AttachKind::Raw => "sys_enter_raw",
            AttachKind::Tracepoint => "sys_enter_tp",
        }
    }
}

impl fmt::Display for AttachKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AttachKind::Btf => "BTF tracepoint (tp_btf/sys_enter)",
            AttachKind::Raw => "raw tracepoint (raw_tp/sys_enter)",
            AttachKind::Tracepoint => "classic tracepoint (raw_syscalls:sys_enter)",
        })
    }
}

impl FromStr for AttachKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "btf" | "tp_btf" => Ok(AttachKind::Btf),
            "raw" | "raw_tp" => Ok(AttachKind::Raw),
            "tracepoint" | "tp" => Ok(AttachKind::Tracepoint),
            _ => Err(format!(
                "unknown attach type '{s}': expected btf, raw or tracepoint"
            )),
        }
    }
}

/// Syscalls seen in one target (its own cgroup and every cgroup born under it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Syscalls {
    /// Known syscall names per ABI.
    pub names: BTreeMap<Arch, BTreeSet<String>>,
    /// Numbers no table names (a newer kernel's calls, or garbage ids), per ABI.
    pub unknown: BTreeMap<Arch, BTreeSet<u64>>,
    /// The part of `names` made by tasks under a seccomp filter (a container recorded
    /// under a permissive profile: its runtime's calls after installing the filter and the
    /// workload's, without the runtime's setup before it).
    pub filtered: BTreeMap<Arch, BTreeSet<String>>,
}

/// The loaded program, its maps and the attach point in use.
pub struct Tracer {
    ebpf: Ebpf,
    /// aya's parse of the kernel BTF, kept only until sys_enter is attached: it is the
    /// biggest part of the recorder's memory.
    kernel_btf: Option<aya::Btf>,
    /// Target ids added so far, for the inline list (see `recorder_ebpf::Scan`).
    scan: Vec<u64>,
    /// The ids whose sets live in the SETS array, by slot: the last inline list written
    /// while it was on (it only grows, then turns off for good).
    slots: Vec<u64>,
    follow: bool,
    attached: Option<AttachKind>,
    host: Arch,
    compat: u32,
}

impl Tracer {
    /// Loads the object, sized for `capacity` cgroups (targets plus cgroups born under
    /// them while recording).
    pub fn load(capacity: u32) -> Result<Tracer, TraceError> {
        Tracer::load_with(capacity, false)
    }

    /// Like [`Tracer::load`]; with `follow`, every cgroup v2 directory made from now on is
    /// a target from birth (see [`Tracer::born`]), which fails unless the kernel allows it.
    pub fn load_with(capacity: u32, follow: bool) -> Result<Tracer, TraceError> {
        check_privileges()?;
        let host = Arch::host()
            .filter(|a| matches!(a, Arch::X86_64 | Arch::Aarch64))
            .ok_or_else(|| {
                TraceError::Load(format!(
                    "unsupported host architecture {}",
                    std::env::consts::ARCH
                ))
            })?;
        let k = KernelOffsets::read(&Btf::from_sys_fs()?, host);
        let capacity = capacity.max(1);
        let follow_flag = u32::from(follow);
        let mut loader = EbpfLoader::new();
        // The object has no CO-RE relocations (offsets come in as globals), so the loader's
        // own copy of the kernel BTF is dropped before the one the attach needs is made.
        loader
            .btf(None)
            .map_max_entries("TARGETS", capacity)
            .map_max_entries("PARENT", capacity)
            .map_max_entries("BORN", if follow { capacity } else { 1 })
            .override_global("FOLLOW", &follow_flag, true)
            .override_global("KN_NAME_OFF", &k.kn_name, true)
            .override_global("SECCOMP_MODE_OFF", &k.seccomp_mode, true)
            .override_global("COMPAT_MODE", &k.compat_mode, true)
            .override_global("COMPAT_OFF", &k.compat_off, true)
            .override_global("COMPAT_MASK", &k.compat_mask, true)
            .override_global("TP_ID_OFF", &k.tp_id_off, true)
            .override_global("CGRP_KN_OFF", &k.cgrp_kn, true)
            .override_global("CGRP_PARENT_OFF", &k.cgrp_parent, true)
            .override_global("CGRP_SELF_OFF", &k.cgrp_self, true)
            .override_global("CGRP_ROOT_OFF", &k.cgrp_root, true)
            .override_global("ROOT_HIER_OFF", &k.root_hier, true)
            .override_global("KN_ID_OFF", &k.kn_id, true);
        let ebpf = loader
            .load(OBJECT)
            .map_err(|e| TraceError::Load(chain(&e)))?;
        let mut tracer = Tracer {
            ebpf,
            kernel_btf: Some(btf_aya()?),
            scan: Vec::new(),
            slots: Vec::new(),
            follow,
            attached: None,
            host,
            compat: k.compat_mode,
        };
        tracer.write_scan()?;
        if follow {
            if !k.mkdir_hook {
                return Err(TraceError::Follow(
                    "cgroup/kernfs_node fields missing".into(),
                ));
            }
            tracer.try_attach_mkdir_hook().map_err(TraceError::Follow)?;
        } else if k.mkdir_hook {
            tracer.attach_mkdir_hook();
        } else {
            log::warn!(
                "kernel BTF lacks cgroup fields: cgroups created under a target while recording are not followed"
            );
        }
        Ok(tracer)
    }

    fn try_attach_mkdir_hook(&mut self) -> Result<(), String> {
        let btf = self
            .kernel_btf
            .take()
            .ok_or("kernel BTF already released")?;
        let p: &mut BtfTracePoint = self.program("cgroup_mkdir")?;
        let loaded = p.load("cgroup_mkdir", &btf).map_err(|e| chain(&e));
        self.kernel_btf = Some(btf);
        loaded?;
        let p: &mut BtfTracePoint = self.program("cgroup_mkdir")?;
        p.attach().map_err(|e| chain(&e))?;
        Ok(())
    }

    fn attach_mkdir_hook(&mut self) {
        if let Err(e) = self.try_attach_mkdir_hook() {
            log::warn!(
                "cannot follow cgroups created under a target ({e}); recording the existing ones only"
            );
        }
    }

    fn program<'a, T>(&'a mut self, name: &str) -> Result<&'a mut T, String>
    where
        &'a mut T: TryFrom<&'a mut aya::programs::Program>,
    {
        let p = self
            .ebpf
            .program_mut(name)
            .ok_or_else(|| format!("program {name} missing from the object"))?;
        p.try_into()
            .map_err(|_| format!("program {name} has an unexpected type"))
    }

    /// Makes `cgroup` a target (its syscalls are recorded from now on).
    pub fn add_target(&mut self, cgroup: u64) -> Result<(), TraceError> {
        let mut map: BpfHashMap<&mut MapData, u64, Seen> = self.map_mut("TARGETS")?;
        map.insert(cgroup, Seen::ZERO, 0)
            .map_err(|e| map_err("insert into", "TARGETS", &e))?;
        self.scan.push(cgroup);
        self.write_scan()
    }

    /// Writes the inline target list. It is only ever turned off once attached: a reader
    /// may see a half-written list, and a target added late must not be missed meanwhile
    /// (its hash entry already exists when the list says "ask the hash").
    fn write_scan(&mut self) -> Result<(), TraceError> {
        let mut scan = Scan {
            n: SCAN_SLOTS as u64 + 1,
            id: [0; SCAN_SLOTS],
        };
        if !self.follow && self.attached.is_none() && self.scan.len() <= SCAN_SLOTS {
            scan.n = self.scan.len() as u64;
            scan.id[..self.scan.len()].copy_from_slice(&self.scan);
            self.slots = self.scan.clone();
        }
        let mut array: aya::maps::Array<&mut MapData, Scan> = self.map_mut("SCAN")?;
        array
            .set(0, scan, 0)
            .map_err(|e| map_err("write", "SCAN", &e))
    }

    /// Records `child` (a cgroup that already existed under a target) into `owner`'s set.
    pub fn add_child(&mut self, child: u64, owner: u64) -> Result<(), TraceError> {
        self.add_target(child)?;
        let mut map: BpfHashMap<&mut MapData, u64, u64> = self.map_mut("PARENT")?;
        map.insert(child, owner, 0)
            .map_err(|e| map_err("insert into", "PARENT", &e))
    }

    /// Stops recording `cgroup` and frees its entry (a followed cgroup that turned out not
    /// to be a container). Its syscalls so far are lost.
    pub fn remove_target(&mut self, cgroup: u64) -> Result<(), TraceError> {
        let mut map: BpfHashMap<&mut MapData, u64, Seen> = self.map_mut("TARGETS")?;
        match map.remove(&cgroup) {
            Ok(()) | Err(aya::maps::MapError::KeyNotFound) => Ok(()),
            Err(e) => Err(map_err("remove from", "TARGETS", &e)),
        }
    }

    /// Frees a BORN entry user space has read.
    pub fn remove_born(&mut self, cgroup: u64) -> Result<(), TraceError> {
        let mut map: BpfHashMap<&mut MapData, u64, Born> = self.map_mut("BORN")?;
        match map.remove(&cgroup) {
            Ok(()) | Err(aya::maps::MapError::KeyNotFound) => Ok(()),
            Err(e) => Err(map_err("remove from", "BORN", &e)),
        }
    }

    /// Follow mode: the cgroups made since loading, as id -> (parent id, directory name).
    pub fn born(&self) -> Result<BTreeMap<u64, (u64, String)>, TraceError> {
        let map: BpfHashMap<&MapData, u64, Born> = self.map("BORN")?;
        let mut out = BTreeMap::new();
        for entry in map.iter() {
            let (id, b) = entry.map_err(|e| map_err("read", "BORN", &e))?;
            let len = b.name.iter().position(|c| *c == 0).unwrap_or(b.name.len());
            let name = String::from_utf8_lossy(&b.name[..len]).into_owned();
            out.insert(id, (b.parent, name));
        }
        Ok(out)
    }

    /// A map of the object as the aya type `T` (hash map, array, ...).
    fn map_mut<'a, T>(&'a mut self, name: &'static str) -> Result<T, TraceError>
    where
        T: TryFrom<&'a mut aya::maps::Map, Error = aya::maps::MapError>,
    {
        let map = self.ebpf.map_mut(name).ok_or(TraceError::Map {
            what: "find",
            map: name,
            msg: "not in the object".into(),
        })?;
        T::try_from(map).map_err(|e| map_err("open", name, &e))
    }

    fn map<'a, T>(&'a self, name: &'static str) -> Result<T, TraceError>
    where
        T: TryFrom<&'a aya::maps::Map, Error = aya::maps::MapError>,
    {
        let map = self.ebpf.map(name).ok_or(TraceError::Map {
            what: "find",
            map: name,
            msg: "not in the object".into(),
        })?;
        T::try_from(map).map_err(|e| map_err("open", name, &e))
    }

    /// Attaches to sys_enter: `prefer` only, or the cheapest the kernel accepts.
    pub fn attach(&mut self, prefer: Option<AttachKind>) -> Result<AttachKind, TraceError> {
        let order = match prefer {
            Some(k) => vec![k],
            None => vec![AttachKind::Btf, AttachKind::Raw, AttachKind::Tracepoint],
        };
        let mut errors = Vec::new();
        for kind in order {
            match self.try_attach(kind) {
                Ok(()) => {
                    self.attached = Some(kind);
                    self.kernel_btf = None;
                    return Ok(kind);
                }
                Err(e) => {
                    log::debug!("{kind}: {e}");
                    errors.push(format!("{kind}: {e}"));
                }
            }
        }
        Err(TraceError::Attach(errors.join("; ")))
    }

    fn try_attach(&mut self, kind: AttachKind) -> Result<(), String> {
        match kind {
            AttachKind::Btf => {
                let btf = match self.kernel_btf.take() {
                    Some(b) => b,
                    None => btf_aya().map_err(|e| e.to_string())?,
                };
                let p: &mut BtfTracePoint = self.program(kind.program())?;
                p.load("sys_enter", &btf).map_err(|e| chain(&e))?;
                p.attach().map_err(|e| chain(&e))?;
            }
            AttachKind::Raw => {
                let p: &mut RawTracePoint = self.program(kind.program())?;
                p.load().map_err(|e| chain(&e))?;
                p.attach("sys_enter").map_err(|e| chain(&e))?;
            }
            AttachKind::Tracepoint => {
                ensure_tracefs();
                let p: &mut TracePoint = self.program(kind.program())?;
                p.load().map_err(|e| chain(&e))?;
                p.attach("raw_syscalls", "sys_enter")
                    .map_err(|e| chain(&e))?;
            }
        }
        Ok(())
    }

    /// Detaches from sys_enter. Unloading waits for programs still running, so the maps
    /// are final afterwards.
    pub fn detach(&mut self) {
        let Some(kind) = self.attached.take() else {
            return;
        };
        let r = match kind {
            AttachKind::Btf => self
                .program::<BtfTracePoint>(kind.program())
                .and_then(|p| p.unload().map_err(|e| chain(&e))),
            AttachKind::Raw => self
                .program::<RawTracePoint>(kind.program())
                .and_then(|p| p.unload().map_err(|e| chain(&e))),
            AttachKind::Tracepoint => self
                .program::<TracePoint>(kind.program())
                .and_then(|p| p.unload().map_err(|e| chain(&e))),
        };
        if let Err(e) = r {
            log::warn!("detaching {kind}: {e}");
        }
        if let Ok(p) = self.program::<BtfTracePoint>("cgroup_mkdir") {
            let _ = p.unload();
        }
    }

    /// What each target has made so far, keyed by the target's cgroup id. Cgroups born
    /// under a target are folded into it.
    pub fn read(&self) -> Result<BTreeMap<u64, Syscalls>, TraceError> {
        let parents: BpfHashMap<&MapData, u64, u64> = self.map("PARENT")?;
        let owner_of: BTreeMap<u64, u64> = parents.iter().filter_map(|r| r.ok()).collect();
        let owner = |id: u64| owner_of.get(&id).copied().unwrap_or(id);
        let mut out: BTreeMap<u64, Syscalls> = BTreeMap::new();
        let targets: BpfHashMap<&MapData, u64, Seen> = self.map("TARGETS")?;
        for entry in targets.iter() {
            let (id, seen) = entry.map_err(|e| map_err("read", "TARGETS", &e))?;
            self.add_seen(out.entry(owner(id)).or_default(), &seen);
        }
        let sets: aya::maps::Array<&MapData, Seen> = self.map("SETS")?;
        for (slot, id) in self.slots.iter().enumerate() {
            let seen = sets
                .get(&(slot as u32), 0)
                .map_err(|e| map_err("read", "SETS", &e))?;
            self.add_seen(out.entry(owner(*id)).or_default(), &seen);
        }
        let odd: BpfHashMap<&MapData, OddKey, u8> = self.map("ODD")?;
        for entry in odd.iter() {
            let (key, _) = entry.map_err(|e| map_err("read", "ODD", &e))?;
            let set = out.entry(owner(key.cgroup)).or_default();
            self.add(set, key.abi, key.nr);
        }
        Ok(out)
    }

    fn add_seen(&self, set: &mut Syscalls, seen: &Seen) {
        for (idx, _) in seen.nr.iter().enumerate().filter(|(_, b)| **b != 0) {
            let abi = (idx / NR_SLOTS) as u32;
            let name = self.add(set, abi, (idx % NR_SLOTS) as u64);
            if let (Some((arch, name)), true) = (name, seen.filtered[idx] != 0) {
                set.filtered.entry(arch).or_default().insert(name);
            }
        }
    }

    /// Adds one call; returns its arch and name when a table names it.
    fn add(&self, set: &mut Syscalls, abi: u32, nr: u64) -> Option<(Arch, String)> {
        let arch = abi_arch(self.host, self.compat, abi)?;
        let nr_in_table = match abi {
            ABI_ARM_PRIVATE => nr + crate::arch::ARM_PRIVATE_BASE as u64,
            _ => nr,
        };
        match u32::try_from(nr_in_table)
            .ok()
            .and_then(|n| arch.syscall_name(n))
        {
            Some(name) => {
                set.names.entry(arch).or_default().insert(name.to_string());
                Some((arch, name.to_string()))
            }
            None => {
                set.unknown.entry(arch).or_default().insert(nr_in_table);
                None
            }
        }
    }
}

impl Drop for Tracer {
    fn drop(&mut self) {
        self.detach();
    }
}

/// The profile architecture of an ABI region on this host.
fn abi_arch(host: Arch, compat: u32, abi: u32) -> Option<Arch> {
    match (host, abi) {
        (h, ABI_NATIVE) => Some(h),
        (Arch::X86_64, ABI_COMPAT) if compat == COMPAT_X86 => Some(Arch::X86),
        (Arch::X86_64, ABI_X32) => Some(Arch::X32),
        (Arch::Aarch64, ABI_COMPAT | ABI_ARM_PRIVATE) if compat == COMPAT_ARM64 => Some(Arch::Arm),
        _ => None,
    }
}

/// Offsets the program needs, from this kernel's BTF.
struct KernelOffsets {
    compat_mode: u32,
    compat_off: u32,
    compat_mask: u32,
    tp_id_off: u32,
    cgrp_kn: u32,
    cgrp_parent: u32,
    cgrp_self: u32,
    cgrp_root: u32,
    root_hier: u32,
    kn_id: u32,
    kn_name: u32,
    seccomp_mode: u32,
    mkdir_hook: bool,
}

impl KernelOffsets {
    fn read(btf: &Btf, host: Arch) -> KernelOffsets {
        let (field, mode, mask) = match host {
            // TS_COMPAT in thread_info.status: what seccomp itself uses for in_ia32_syscall().
            Arch::X86_64 => ("status", COMPAT_X86, 0x0002),
            // TIF_32BIT (bit 22) in thread_info.flags: is_compat_task().
            _ => ("flags", COMPAT_ARM64, 1 << 22),
        };
        let compat = btf
            .member_offset("task_struct", "thread_info")
            .and_then(|ti| Ok(ti + btf.member_offset("thread_info", field)?));
        let (compat_mode, compat_off) = match compat {
            Ok(off) => (mode, off),
            Err(e) => {
                log::warn!("{e}: 32-bit syscalls will be recorded as native ones");
                (COMPAT_NONE, 0)
            }
        };
        let cg = (|| -> Result<[u32; 7], BtfError> {
            Ok([
                btf.member_offset("cgroup", "kn")?,
                btf.member_offset("cgroup", "self")?
                    + btf.member_offset("cgroup_subsys_state", "parent")?,
                btf.member_offset("cgroup", "self")?,
                btf.member_offset("cgroup", "root")?,
                btf.member_offset("cgroup_root", "hierarchy_id")?,
                btf.member_offset("kernfs_node", "id")?,
                btf.member_offset("kernfs_node", "name")?,
            ])
        })();
        let mkdir_hook = cg.is_ok();
        let [
            cgrp_kn,
            cgrp_parent,
            cgrp_self,
            cgrp_root,
            root_hier,
            kn_id,
            kn_name,
        ] = cg.unwrap_or_default();
        let seccomp_mode = btf
            .member_offset("task_struct", "seccomp")
            .and_then(|s| Ok(s + btf.member_offset("seccomp", "mode")?))
            .unwrap_or_else(|e| {
                log::debug!("{e}: calls under a seccomp filter are not told apart");
                0
            });
        KernelOffsets {
            compat_mode,
            seccomp_mode,
            compat_off,
            compat_mask: mask,
            tp_id_off: tracepoint_id_offset().unwrap_or(8),
            cgrp_kn,
            cgrp_parent,
            cgrp_self,
            cgrp_root,
            root_hier,
            kn_id,
            kn_name,
            mkdir_hook,
        }
    }
}

/// Offset of `id` in the classic sys_enter record; kernels with a longer `trace_entry`
/// (PREEMPT_RT, lazy preemption backports) move it.
fn tracepoint_id_offset() -> Option<u32> {
    ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]
        .iter()
        .find_map(|t| {
            let f = std::fs::read_to_string(format!("{t}/events/raw_syscalls/sys_enter/format"))
                .ok()?;
            let line = f.lines().find(|l| l.contains(" id;"))?;
            line.split(';')
                .find_map(|p| p.trim().strip_prefix("offset:")?.parse().ok())
        })
}

fn ensure_tracefs() {
    let t = std::path::Path::new("/sys/kernel/tracing");
    if t.join("events").exists() {
        return;
    }
    let src = c"tracefs";
    let dst = c"/sys/kernel/tracing";
    // SAFETY: plain mount(2) with static C strings.
    let r = unsafe {
        libc::mount(
            src.as_ptr(),
            dst.as_ptr(),
            src.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if r != 0 {
        log::debug!("mounting tracefs: {}", std::io::Error::last_os_error());
    }
}

fn btf_aya() -> Result<aya::Btf, TraceError> {
    aya::Btf::from_sys_fs().map_err(|e| TraceError::Load(format!("kernel BTF: {}", chain(&e))))
}

fn map_err(what: &'static str, map: &'static str, e: &dyn std::error::Error) -> TraceError {
    TraceError::Map {
        what,
        map,
        msg: chain(e),
    }
}

/// An error and its causes on one line: aya's top-level messages alone hide the errno.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// Fails early, naming what is missing, instead of letting the kernel say EPERM later.
fn check_privileges() -> Result<(), TraceError> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    let missing: Vec<&str> = [
        (CAP_BPF, "CAP_BPF"),
        (CAP_PERFMON, "CAP_PERFMON"),
        (CAP_SYS_ADMIN, "CAP_SYS_ADMIN"),
    ]
    .into_iter()
    .filter(|(bit, _)| eff & (1 << bit) == 0)
    .map(|(_, n)| n)
    .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(TraceError::Privileges(missing.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abi_regions_map_to_profile_arches() {
        assert_eq!(
            abi_arch(Arch::X86_64, COMPAT_X86, ABI_NATIVE),
            Some(Arch::X86_64)
        );
        assert_eq!(
            abi_arch(Arch::X86_64, COMPAT_X86, ABI_COMPAT),
            Some(Arch::X86)
        );
        assert_eq!(abi_arch(Arch::X86_64, COMPAT_X86, ABI_X32), Some(Arch::X32));
        assert_eq!(
            abi_arch(Arch::Aarch64, COMPAT_ARM64, ABI_COMPAT),
            Some(Arch::Arm)
        );
        assert_eq!(
            abi_arch(Arch::Aarch64, COMPAT_ARM64, ABI_ARM_PRIVATE),
            Some(Arch::Arm)
        );
        assert_eq!(
            abi_arch(Arch::Aarch64, COMPAT_ARM64, ABI_NATIVE),
            Some(Arch::Aarch64)
        );
    }
}
