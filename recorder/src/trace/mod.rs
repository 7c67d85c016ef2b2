//! Loading, attaching and reading the kernel side.
//!
//! One object carries three `sys_enter` entry points; the cheapest the kernel accepts is
//! attached: BTF tracepoint, else raw tracepoint, else the classic tracepoint (which also
//! needs tracefs and depends on the trace record layout). Every name of the object comes
//! from the contract in `recorder_ebpf`.

mod caps;
mod decode;
pub mod loader;
pub mod offsets;
mod targets;
mod tracefs;

pub(crate) use caps::check_privileges;
pub(crate) use decode::abi_arch;
pub use loader::{CgroupRead, capacity};
pub use tracefs::ensure_tracefs;

use crate::arch::Arch;
use crate::btf::BtfError;
use aya::Ebpf;
use aya::maps::{Array, HashMap as BpfHashMap, Map, MapData, MapError};
use decode::Decoder;
use recorder_ebpf::{MapDef, ProgramDef, ProgramKind, Scan, Seen, maps, programs};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error(
        "missing privileges: recording needs {0} (run as root, or grant CAP_BPF, CAP_PERFMON \
         and CAP_SYS_ADMIN, e.g. with setcap or a privileged container)"
    )]
    Privileges(String),
    #[error("unsupported host architecture {0}")]
    Arch(&'static str),
    #[error(transparent)]
    Btf(#[from] BtfError),
    #[error("cannot parse the kernel BTF")]
    KernelBtf(#[source] aya::BtfError),
    #[error("cannot load the eBPF program")]
    Load(#[source] aya::EbpfError),
    #[error("program {0} is missing from the eBPF object")]
    MissingProgram(&'static str),
    #[error("cannot {what} program {name}")]
    Program {
        name: &'static str,
        what: &'static str,
        #[source]
        source: aya::programs::ProgramError,
    },
    #[error("following new cgroups needs cgroup and kernfs_node fields in the kernel's BTF")]
    FollowFields,
    #[error(
        "reading the cgroup id through the task needs task_struct.cgroups, css_set.dfl_cgrp \
         and cgroup/kernfs_node fields in the kernel's BTF"
    )]
    TaskCgroupFields,
    #[error(
        "this kernel lacks the bpf_get_current_task_btf helper (Linux 5.11+) that the BTF \
         tracepoint program calls; the raw tracepoint (--attach raw) works here"
    )]
    NoTaskBtfHelper,
    #[error("following new cgroups needs the cgroup_mkdir BTF tracepoint")]
    Follow(#[source] Box<TraceError>),
    /// Every attach point tried failed: the earlier ones in the message, the last one as
    /// the source.
    #[error("the kernel accepted no sys_enter attach point: {earlier}{last}")]
    Attach {
        earlier: String,
        last: AttachKind,
        #[source]
        source: Box<TraceError>,
    },
    #[error(
        "counting refused calls needs pt_regs' syscall number field and \
         __secure_computing (with 0 or 1 parameter) in the kernel's BTF"
    )]
    RefusedFields,
    #[error(
        "this kernel lacks the bpf_task_pt_regs helper (Linux 5.15+) that the refusal \
         counter calls"
    )]
    NoTaskPtRegs,
    #[error(
        "this arm64 kernel cannot attach fexit programs (ENOTSUPP): arm64 BPF \
         trampolines need ftrace direct calls (Linux 6.4+)"
    )]
    NoArm64Fexit,
    #[error("map {0} is missing from the eBPF object")]
    MissingMap(&'static str),
    #[error("the kernel maps are full: they hold {capacity} cgroups")]
    Full { capacity: u32 },
    #[error("cannot {what} the {map} map")]
    Map {
        what: &'static str,
        map: &'static str,
        #[source]
        source: MapError,
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
    /// The recorder's program for this attach point.
    fn program(self) -> ProgramDef {
        match self {
            AttachKind::Btf => programs::SYS_ENTER_BTF,
            AttachKind::Raw => programs::SYS_ENTER_RAW,
            AttachKind::Tracepoint => programs::SYS_ENTER_TP,
        }
    }

    /// Where a `sys_enter` program of this kind attaches (for [`loader::attach`]).
    pub fn sys_enter(self) -> ProgramKind {
        self.program().kind
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
    pub(crate) filtered: BTreeMap<Arch, BTreeSet<String>>,
}

impl Syscalls {
    /// Adds what `other` saw: a target's set grows by the sets of the cgroups folded into it.
    pub fn merge(&mut self, other: Syscalls) {
        for (arch, names) in other.names {
            self.names.entry(arch).or_default().extend(names);
        }
        for (arch, nrs) in other.unknown {
            self.unknown.entry(arch).or_default().extend(nrs);
        }
        for (arch, names) in other.filtered {
            self.filtered.entry(arch).or_default().extend(names);
        }
    }
}

/// How to load a [`Tracer`].
#[derive(Clone, Copy, Debug, Default)]
pub struct LoadOptions {
    /// Every cgroup v2 directory made from now on is a target from birth.
    pub follow: bool,
    /// None: through the task when the kernel's BTF has the fields, else the helper.
    pub cgroup_read: Option<CgroupRead>,
}

/// aya map types that open a [`MapDef<K, V>`]: the definition picks the key and value
/// types, so a map is never read as something else.
trait Opens<K, V> {}
impl<T, K: aya::Pod, V: aya::Pod> Opens<K, V> for BpfHashMap<T, K, V> {}
impl<T, V: aya::Pod> Opens<u32, V> for Array<T, V> {}

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
    /// Cgroups TARGETS holds.
    capacity: u32,
    attached: Option<AttachKind>,
    cgroup_read: CgroupRead,
    /// See [`offsets::Offsets::task_btf_helper`].
    task_btf_helper: bool,
    decoder: Decoder,
}

impl Tracer {
    /// Loads the object, sized for `capacity` cgroups (targets plus cgroups born under
    /// them while recording).
    pub fn load(capacity: u32) -> Result<Tracer, TraceError> {
        Tracer::load_with(capacity, false)
    }

    /// Like [`Tracer::load`]; with `follow`, every cgroup v2 directory made from now on is
    /// a target from birth (see [`Tracer::born`]), which fails unless the kernel allows it.
    pub(crate) fn load_with(capacity: u32, follow: bool) -> Result<Tracer, TraceError> {
        Tracer::load_opts(
            capacity,
            LoadOptions {
                follow,
                cgroup_read: None,
            },
        )
    }

    /// Like [`Tracer::load`], as `opts` say.
    pub fn load_opts(capacity: u32, opts: LoadOptions) -> Result<Tracer, TraceError> {
        let follow = opts.follow;
        caps::check_privileges()?;
        let host = Arch::host()
            .filter(|a| matches!(a, Arch::X86_64 | Arch::Aarch64))
            .ok_or(TraceError::Arch(std::env::consts::ARCH))?;
        let new_loader = loader::NewLoader::start();
        let (offsets, btf) = loader::kernel_offsets(host)?;
        let cgroup_read = match opts.cgroup_read {
            Some(CgroupRead::TaskBtf) if !offsets.task_cgroup_fields() => {
                return Err(TraceError::TaskCgroupFields);
            }
            Some(read) => read,
            // Through the task wherever the kernel's BTF allows it: it halves what a
            // non-target syscall pays even where the task helper is a call (6.18 x86_64),
            // and newer kernels inline that call. Kernels without the task helper (5.10)
            // refuse the BTF tracepoint anyway and get the raw one, which uses the helper.
            None if offsets.task_cgroup_fields() => CgroupRead::TaskBtf,
            None => CgroupRead::Helper,
        };
        let capacity = capacity.max(1);
        let (ebpf, kernel_btf) = loader::load(
            new_loader,
            btf,
            capacity,
            follow,
            &offsets.kernel,
            cgroup_read,
        )?;
        let mut tracer = Tracer {
            ebpf,
            kernel_btf: Some(kernel_btf),
            scan: Vec::new(),
            slots: Vec::new(),
            follow,
            capacity,
            attached: None,
            cgroup_read,
            task_btf_helper: offsets.task_btf_helper,
            decoder: Decoder {
                host,
                compat: offsets.kernel.compat_mode,
            },
        };
        tracer.write_scan()?;
        if follow {
            if !offsets.cgroup_fields {
                return Err(TraceError::FollowFields);
            }
            tracer
                .attach_mkdir_hook()
                .map_err(|e| TraceError::Follow(Box::new(e)))?;
        } else if !offsets.cgroup_fields {
            log::warn!(
                "kernel BTF lacks cgroup fields: cgroups created under a target while recording are not followed"
            );
        } else if let Err(e) = tracer.attach_mkdir_hook() {
            log::warn!(
                "cannot follow cgroups created under a target ({}); recording the existing ones only",
                chain(&e)
            );
        }
        Ok(tracer)
    }

    fn attach_mkdir_hook(&mut self) -> Result<(), TraceError> {
        let p = programs::CGROUP_MKDIR;
        loader::attach(&mut self.ebpf, p.name, p.kind, self.kernel_btf.as_ref())
    }

    /// Writes the inline target list. It is only ever turned off once attached: a reader
    /// may see a half-written list, and a target added late must not be missed meanwhile
    /// (its hash entry already exists when the list says "ask the hash").
    fn write_scan(&mut self) -> Result<(), TraceError> {
        let list = (!self.follow && self.attached.is_none())
            .then(|| Scan::of(&self.scan))
            .flatten();
        if list.is_some() {
            self.slots = self.scan.clone();
        }
        let mut array: Array<_, _> = self.map_mut(&maps::SCAN)?;
        array
            .set(0, list.unwrap_or(Scan::OFF), 0)
            .map_err(map_err("write", maps::SCAN.name))
    }

    /// A map of the object as the aya type its definition says.
    fn map_mut<'a, K, V, T>(&'a mut self, def: &MapDef<K, V>) -> Result<T, TraceError>
    where
        T: TryFrom<&'a mut Map, Error = MapError> + Opens<K, V>,
    {
        let map = self
            .ebpf
            .map_mut(def.name)
            .ok_or(TraceError::MissingMap(def.name))?;
        T::try_from(map).map_err(map_err("open", def.name))
    }

    fn map<'a, K, V, T>(&'a self, def: &MapDef<K, V>) -> Result<T, TraceError>
    where
        T: TryFrom<&'a Map, Error = MapError> + Opens<K, V>,
    {
        let map = self
            .ebpf
            .map(def.name)
            .ok_or(TraceError::MissingMap(def.name))?;
        T::try_from(map).map_err(map_err("open", def.name))
    }

    /// Attaches to sys_enter: `prefer` only, or the cheapest the kernel accepts.
    pub fn attach(&mut self, prefer: Option<AttachKind>) -> Result<AttachKind, TraceError> {
        let order = match prefer {
            Some(k) => vec![k],
            None => vec![AttachKind::Btf, AttachKind::Raw, AttachKind::Tracepoint],
        };
        let mut earlier = String::new();
        let mut failed = None;
        for kind in order {
            let p = kind.program();
            // Refused by name, not by a verifier log about an unknown helper.
            let attached = if kind == AttachKind::Btf && !self.task_btf_helper {
                Err(TraceError::NoTaskBtfHelper)
            } else {
                loader::attach(&mut self.ebpf, p.name, p.kind, self.kernel_btf.as_ref())
            };
            match attached {
                Ok(()) => {
                    self.attached = Some(kind);
                    self.kernel_btf = None;
                    return Ok(kind);
                }
                Err(e) => {
                    log::debug!("{kind}: {}", chain(&e));
                    if let Some((k, e)) = failed.replace((kind, e)) {
                        earlier.push_str(&format!("{k}: {}; ", chain(&e)));
                    }
                }
            }
        }
        let (last, source) = failed.expect("at least one attach point is tried");
        Err(TraceError::Attach {
            earlier,
            last,
            source: Box::new(source),
        })
    }

    /// How the attached program reads the cgroup id: only the BTF tracepoint can read it
    /// through the task.
    pub fn cgroup_read(&self) -> CgroupRead {
        match self.attached {
            Some(AttachKind::Btf) => self.cgroup_read,
            _ => CgroupRead::Helper,
        }
    }

    /// Detaches from sys_enter. Unloading waits for programs still running, so the maps
    /// are final afterwards.
    pub fn detach(&mut self) {
        let Some(kind) = self.attached.take() else {
            return;
        };
        if let Err(e) = loader::detach(&mut self.ebpf, kind.program().name) {
            log::warn!("detaching {kind}: {}", chain(&e));
        }
        // Not attached when the kernel refused it; nothing to undo then.
        let _ = loader::detach(&mut self.ebpf, programs::CGROUP_MKDIR.name);
    }

    /// What each target has made so far, keyed by the target's cgroup id. Cgroups born
    /// under a target are folded into it.
    pub fn read(&self) -> Result<BTreeMap<u64, Syscalls>, TraceError> {
        let parents: BpfHashMap<_, u64, u64> = self.map(&maps::PARENT)?;
        let owner_of: BTreeMap<u64, u64> = parents.iter().filter_map(|r| r.ok()).collect();
        let owner = |id: u64| owner_of.get(&id).copied().unwrap_or(id);
        let mut out: BTreeMap<u64, Syscalls> = BTreeMap::new();
        let targets: BpfHashMap<_, u64, Seen> = self.map(&maps::TARGETS)?;
        for entry in targets.iter() {
            let (id, seen) = entry.map_err(map_err("read", maps::TARGETS.name))?;
            self.decoder
                .add_seen(out.entry(owner(id)).or_default(), &seen);
        }
        let sets: Array<&MapData, Seen> = self.map(&maps::SETS)?;
        for (slot, id) in self.slots.iter().enumerate() {
            let seen = sets
                .get(&(slot as u32), 0)
                .map_err(map_err("read", maps::SETS.name))?;
            self.decoder
                .add_seen(out.entry(owner(*id)).or_default(), &seen);
        }
        let odd: BpfHashMap<_, recorder_ebpf::OddKey, u8> = self.map(&maps::ODD)?;
        for entry in odd.iter() {
            let (key, _) = entry.map_err(map_err("read", maps::ODD.name))?;
            let set = out.entry(owner(key.cgroup)).or_default();
            self.decoder.add(set, key.abi, key.nr);
        }
        Ok(out)
    }
}

impl Drop for Tracer {
    fn drop(&mut self) {
        self.detach();
    }
}

pub(crate) fn map_err(what: &'static str, map: &'static str) -> impl Fn(MapError) -> TraceError {
    move |source| TraceError::Map { what, map, source }
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
