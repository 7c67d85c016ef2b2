//! Loading the recorder's object and attaching programs, by the names and attach points
//! of the contract in `recorder_ebpf`. Public so that the benchmark attaches its own
//! objects the way the recorder does.

use super::TraceError;
use super::offsets::{self, Offsets};
use crate::arch::Arch;
use crate::btf::{self, Btf};
use aya::programs::{BtfTracePoint, FExit, Program, RawTracePoint, TracePoint};
use aya::{Ebpf, EbpfLoader, Endianness};
use recorder_ebpf::{
    CGROUP_FROM_HELPER, CGROUP_FROM_TASK, KernelOffsets, ProgramKind, globals, maps,
};
use std::fmt;
use std::path::Path;

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/recorder-ebpf"));

/// How the BTF tracepoint reads the cgroup id of every syscall on the host. The raw and
/// classic tracepoints always use the helper (their kernels may lack the task helper).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CgroupRead {
    /// `bpf_get_current_cgroup_id()`: one helper call.
    Helper,
    /// `bpf_get_current_task_btf()` then direct loads of `cgroups->dfl_cgrp->kn->id`:
    /// no call where the kernel inlines the task helper; the target path reuses the task.
    TaskBtf,
}

impl fmt::Display for CgroupRead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CgroupRead::Helper => "bpf_get_current_cgroup_id",
            CgroupRead::TaskBtf => "task BTF loads",
        })
    }
}

/// Map entries for recording `existing` cgroups: one more for the command's own cgroup,
/// and headroom for the cgroups made between two scans (following makes every new cgroup
/// a target until user space drops it, so it needs more).
pub fn capacity(existing: usize, following: bool) -> u32 {
    let headroom = if following { 2048 } else { 1024 };
    u32::try_from(existing + 1 + headroom).unwrap_or(u32::MAX)
}

/// An aya loader being made on a thread of its own.
///
/// Why each run reads the kernel BTF twice: aya 0.14's `EbpfLoader::new()` reads and
/// parses it itself, with no way to skip that, though the object has no CO-RE relocations
/// to use it for (offsets come in as a global); aya 0.15, which can skip it, needs a newer
/// Rust than the workspace's. That parse is thrown away. The recorder reads the bytes
/// once more, keeps only the offsets it needs meanwhile (see `btf`), and has aya parse
/// them for the attach only in [`load`], after the thrown-away parse is freed: aya's
/// parse is the biggest part of the recorder's memory, and two at once would add up.
pub(crate) struct NewLoader(std::thread::JoinHandle<EbpfLoader<'static>>);

impl NewLoader {
    pub(crate) fn start() -> NewLoader {
        NewLoader(std::thread::spawn(loader_without_btf))
    }
}

fn loader_without_btf() -> EbpfLoader<'static> {
    let mut loader = EbpfLoader::new();
    loader.btf(None);
    loader
}

/// Loads the recorder's object with its globals set, sized for `capacity` cgroups;
/// `follow` sizes BORN and turns the cgroup_mkdir hook's follow mode on. Meanwhile aya
/// parses `btf`, the kernel's, which BTF tracepoints attach with.
pub(crate) fn load(
    loader: NewLoader,
    btf: Vec<u8>,
    capacity: u32,
    follow: bool,
    offsets: &KernelOffsets,
    cgroup_read: CgroupRead,
) -> Result<(Ebpf, aya::Btf), TraceError> {
    let capacity = capacity.max(1);
    let follow_flag = u32::from(follow);
    let read = match cgroup_read {
        CgroupRead::Helper => CGROUP_FROM_HELPER,
        CgroupRead::TaskBtf => CGROUP_FROM_TASK,
    };
    // Only a panic on that thread fails the join; the loader is then made here.
    let mut loader: EbpfLoader<'_> = loader.0.join().unwrap_or_else(|_| loader_without_btf());
    let parsing = std::thread::spawn(move || aya::Btf::parse(&btf, Endianness::default()));
    let ebpf = loader
        .map_max_entries(maps::TARGETS.name, capacity)
        .map_max_entries(maps::PARENT.name, capacity)
        .map_max_entries(maps::BORN.name, if follow { capacity } else { 1 })
        .override_global(globals::FOLLOW.name, &follow_flag, true)
        .override_global(globals::CGROUP_READ.name, &read, true)
        .override_global(globals::OFFSETS.name, offsets, true)
        .load(OBJECT)
        .map_err(TraceError::Load)?;
    let btf = match parsing.join() {
        Ok(parsed) => parsed.map_err(TraceError::KernelBtf)?,
        // Only a panic on that thread fails the join; the BTF is then read again here.
        Err(_) => kernel_btf()?,
    };
    Ok((ebpf, btf))
}

/// Loads the object for counting refused calls in at most `keys` (cgroup, syscall) keys.
pub(crate) fn load_refused(keys: u32, offsets: &KernelOffsets) -> Result<Ebpf, TraceError> {
    EbpfLoader::new()
        .btf(None)
        .map_max_entries(maps::REFUSED.name, keys.max(1))
        .override_global(globals::OFFSETS.name, offsets, true)
        .load(OBJECT)
        .map_err(TraceError::Load)
}

/// The running kernel's BTF, read once: the recorder's index (for the offsets and what the
/// refusal counter needs) and aya's parse (which fexit programs load against) come from
/// the same bytes.
pub(crate) struct KernelBtf {
    pub(crate) index: Btf,
    pub(crate) aya: aya::Btf,
}

impl KernelBtf {
    pub(crate) fn read() -> Result<KernelBtf, TraceError> {
        let path = Path::new(btf::VMLINUX);
        let data = btf::read(path)?;
        let aya = aya::Btf::parse(&data, Endianness::default()).map_err(TraceError::KernelBtf)?;
        let index = Btf::from_bytes(&data, path, &offsets::WANT)?;
        Ok(KernelBtf { index, aya })
    }
}

/// The running kernel's BTF and the offsets the program needs, read from it for `host`.
/// The bytes are kept for [`load`].
pub(crate) fn kernel_offsets(host: Arch) -> Result<(Offsets, Vec<u8>), TraceError> {
    let path = Path::new(btf::VMLINUX);
    let data = btf::read(path)?;
    let index = Btf::from_bytes(&data, path, &offsets::WANT)?;
    Ok((offsets::read(&index, host), data))
}

/// aya's parse of the running kernel's BTF, for an attach that was not handed one.
fn kernel_btf() -> Result<aya::Btf, TraceError> {
    aya::Btf::from_sys_fs().map_err(TraceError::KernelBtf)
}

/// Loads program `name` of `ebpf` and attaches it as `kind` says; BTF tracepoints need
/// `btf` (see [`kernel_btf`]).
pub fn attach(
    ebpf: &mut Ebpf,
    name: &'static str,
    kind: ProgramKind,
    btf: Option<&aya::Btf>,
) -> Result<(), TraceError> {
    let fail = |what| move |source| TraceError::Program { name, what, source };
    let p = program(ebpf, name)?;
    match kind {
        ProgramKind::BtfTracePoint { function } => {
            let p: &mut BtfTracePoint = p.try_into().map_err(fail("open"))?;
            with_btf(btf, |b| p.load(function, b).map_err(fail("load")))?;
            p.attach().map_err(fail("attach"))?;
        }
        ProgramKind::RawTracePoint { tracepoint } => {
            let p: &mut RawTracePoint = p.try_into().map_err(fail("open"))?;
            p.load().map_err(fail("load"))?;
            p.attach(tracepoint).map_err(fail("attach"))?;
        }
        ProgramKind::TracePoint { category, name: tp } => {
            super::tracefs::ensure_tracefs();
            let p: &mut TracePoint = p.try_into().map_err(fail("open"))?;
            p.load().map_err(fail("load"))?;
            p.attach(category, tp).map_err(fail("attach"))?;
        }
        ProgramKind::FExit { function } => {
            let p: &mut FExit = p.try_into().map_err(fail("open"))?;
            with_btf(btf, |b| p.load(function, b).map_err(fail("load")))?;
            p.attach().map_err(fail("attach"))?;
        }
    }
    Ok(())
}

/// Runs `f` with the BTF the caller parsed, or with the kernel's read now when it has none.
fn with_btf<T>(
    btf: Option<&aya::Btf>,
    f: impl FnOnce(&aya::Btf) -> Result<T, TraceError>,
) -> Result<T, TraceError> {
    match btf {
        Some(b) => f(b),
        None => f(&kernel_btf()?),
    }
}

/// Detaches and unloads program `name`: unloading waits for runs in progress, so its
/// maps are final afterwards.
pub(crate) fn detach(ebpf: &mut Ebpf, name: &'static str) -> Result<(), TraceError> {
    let r = match program(ebpf, name)? {
        Program::BtfTracePoint(p) => p.unload(),
        Program::RawTracePoint(p) => p.unload(),
        Program::TracePoint(p) => p.unload(),
        Program::FExit(p) => p.unload(),
        _ => Err(aya::programs::ProgramError::UnexpectedProgramType),
    };
    r.map_err(|source| TraceError::Program {
        name,
        what: "unload",
        source,
    })
}

fn program<'a>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<&'a mut Program, TraceError> {
    ebpf.program_mut(name)
        .ok_or(TraceError::MissingProgram(name))
}

#[cfg(test)]
mod tests {
    //! The contract test: every name and size user space uses, against the built object.
    //! Unprivileged: the object is parsed, not loaded.
    use super::*;
    use aya_obj::{Object, ProgramSection};
    use recorder_ebpf::{MapKind, MapSpec, programs};
    use std::collections::HashMap;

    fn object() -> Object {
        Object::parse(OBJECT).expect("the built object parses")
    }

    /// What differs between `spec` and the object's map of its name, if anything.
    fn map_mismatch(obj: &Object, spec: &MapSpec) -> Option<String> {
        let Some(map) = obj.maps.get(spec.name) else {
            return Some(format!("map {} is not in the object", spec.name));
        };
        // BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PERCPU_HASH.
        let kind = match map.map_type() {
            1 => Some(MapKind::Hash),
            2 => Some(MapKind::Array),
            5 => Some(MapKind::PerCpuHash),
            _ => None,
        };
        let found = (
            kind,
            map.key_size() as usize,
            map.value_size() as usize,
            map.max_entries(),
        );
        let declared = (
            Some(spec.kind),
            spec.key_size,
            spec.value_size,
            spec.max_entries,
        );
        (found != declared).then(|| {
            format!(
                "map {}: the object has (kind, key, value, entries) {found:?}, the contract {declared:?}",
                spec.name
            )
        })
    }

    #[test]
    fn every_map_has_the_name_kind_and_sizes_user_space_uses() {
        let obj = object();
        for spec in maps::ALL {
            assert_eq!(map_mismatch(&obj, spec), None);
        }
        // The rest are the sections that hold the globals (.rodata, .bss, ...).
        let declared = obj.maps.keys().filter(|n| !n.starts_with('.')).count();
        assert_eq!(
            declared,
            maps::ALL.len(),
            "maps the contract does not declare"
        );
    }

    /// The map check above is only worth something if it refuses a wrong declaration.
    #[test]
    fn a_wrong_map_name_kind_or_size_is_caught() {
        let obj = object();
        let right = maps::SETS.spec();
        let wrong = [
            MapSpec {
                name: "SET",
                ..right
            },
            MapSpec {
                kind: MapKind::Hash,
                ..right
            },
            MapSpec {
                key_size: 8,
                ..right
            },
            MapSpec {
                value_size: right.value_size / 2,
                ..right
            },
            MapSpec {
                max_entries: right.max_entries + 1,
                ..right
            },
        ];
        assert_eq!(map_mismatch(&obj, &right), None);
        for spec in wrong {
            assert!(map_mismatch(&obj, &spec).is_some(), "{spec:?} passed");
        }
    }

    #[test]
    fn every_global_exists_with_the_size_user_space_writes() {
        for &(name, size) in globals::ALL {
            // What the loader does with each override: it fails on a missing name or a
            // size that differs from the symbol's.
            let mut obj = object();
            let data = vec![0u8; size];
            obj.patch_map_data(HashMap::from([(name, (data.as_slice(), true))]))
                .unwrap_or_else(|e| panic!("global {name} ({size} bytes): {e}"));
        }
    }

    #[test]
    fn every_program_exists_with_its_attach_type() {
        let obj = object();
        for def in programs::ALL {
            let p = obj
                .programs
                .get(def.name)
                .unwrap_or_else(|| panic!("program {} is not in the object", def.name));
            let ok = matches!(
                (&p.section, def.kind),
                (
                    ProgramSection::BtfTracePoint,
                    ProgramKind::BtfTracePoint { .. }
                ) | (
                    ProgramSection::RawTracePoint,
                    ProgramKind::RawTracePoint { .. }
                ) | (ProgramSection::TracePoint, ProgramKind::TracePoint { .. })
                    | (
                        ProgramSection::FExit { sleepable: false },
                        ProgramKind::FExit { .. }
                    )
            );
            assert!(
                ok,
                "{} is a {:?}, expected {:?}",
                def.name, p.section, def.kind
            );
        }
        assert_eq!(
            obj.programs.len(),
            programs::ALL.len(),
            "programs the contract does not declare"
        );
    }

    /// The global check above is only worth something if the loader's patching refuses.
    #[test]
    fn a_wrong_global_name_or_size_is_caught() {
        let mut obj = object();
        let four = [0u8; 4];
        let wrong = HashMap::from([(globals::OFFSETS.name, (&four[..], true))]);
        assert!(obj.patch_map_data(wrong).is_err());
        let missing = HashMap::from([("OFFSET", (&four[..], true))]);
        assert!(obj.patch_map_data(missing).is_err());
    }
}
