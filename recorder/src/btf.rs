//! Just enough of the kernel's BTF to find struct member offsets: Rust eBPF gets no CO-RE
//! relocations, so user space reads the offsets here and hands them to the program as
//! load-time constants.

use std::collections::HashMap;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum BtfError {
    #[error("cannot read kernel BTF at {path} (the kernel needs CONFIG_DEBUG_INFO_BTF=y)")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("kernel BTF at {path} is malformed: {what}")]
    Malformed { path: String, what: String },
    #[error("kernel BTF has no member {member} in struct {st}")]
    NoMember { st: String, member: String },
}

const KIND_INT: u32 = 1;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_ENUM: u32 = 6;
const KIND_FUNC: u32 = 12;
const KIND_FUNC_PROTO: u32 = 13;
const KIND_VAR: u32 = 14;
const KIND_DATASEC: u32 = 15;
const KIND_DECL_TAG: u32 = 17;
const KIND_ENUM64: u32 = 19;

/// Parsed vmlinux BTF: the raw bytes and where each type starts in them. Members are read
/// on demand, so the index stays a few hundred KiB (the recorder's start-up memory is
/// measured).
pub struct Btf {
    data: Vec<u8>,
    strings: usize,
    /// Type id -> byte offset of its header in `data` (id 0 is void).
    types: Vec<usize>,
    structs: HashMap<String, u32>,
}

fn u32_at(data: &[u8], o: usize) -> Option<u32> {
    data.get(o..o + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Where the running kernel publishes its BTF.
pub const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

/// The bytes of a BTF file. Sysfs hands it out a page per read: read it once per run and
/// parse the bytes as often as needed.
pub fn read(path: &Path) -> Result<Vec<u8>, BtfError> {
    std::fs::read(path).map_err(|source| BtfError::Read {
        path: path.display().to_string(),
        source,
    })
}

impl Btf {
    pub fn from_sys_fs() -> Result<Btf, BtfError> {
        Btf::from_file(Path::new(VMLINUX))
    }

    pub(crate) fn from_file(path: &Path) -> Result<Btf, BtfError> {
        Btf::from_bytes(read(path)?, path)
    }

    /// Parses `data`, read from `path` (named in errors).
    pub fn from_bytes(data: Vec<u8>, path: &Path) -> Result<Btf, BtfError> {
        Btf::parse(data).map_err(|what| BtfError::Malformed {
            path: path.display().to_string(),
            what,
        })
    }

    fn parse(data: Vec<u8>) -> Result<Btf, String> {
        if data.get(0..2) != Some(&[0x9f, 0xeb][..]) {
            return Err("bad magic (only little-endian BTF is supported)".into());
        }
        let field = |o| {
            u32_at(&data, o)
                .ok_or("truncated header")
                .map(|v| v as usize)
        };
        let hdr_len = field(4)?;
        let (type_off, type_len, str_off, str_len) =
            (field(8)?, field(12)?, field(16)?, field(20)?);
        let strings = hdr_len + str_off;
        if data.len() < strings + str_len {
            return Err("string section out of bounds".into());
        }
        let mut types = vec![0];
        let mut o = hdr_len + type_off;
        let end = o + type_len;
        while o < end {
            let info = u32_at(&data, o + 4).ok_or("truncated type")?;
            let (kind, vlen) = ((info >> 24) & 0x1f, (info & 0xffff) as usize);
            types.push(o);
            o += 12
                + match kind {
                    KIND_INT | KIND_VAR | KIND_DECL_TAG => 4,
                    KIND_ARRAY => 12,
                    KIND_STRUCT | KIND_UNION | KIND_DATASEC | KIND_ENUM64 => 12 * vlen,
                    KIND_ENUM | KIND_FUNC_PROTO => 8 * vlen,
                    0..=19 => 0,
                    _ => return Err(format!("unknown BTF kind {kind}")),
                };
        }
        if o > data.len() {
            return Err("type section out of bounds".into());
        }
        let mut btf = Btf {
            data,
            strings,
            types,
            structs: HashMap::new(),
        };
        for id in 1..btf.types.len() as u32 {
            let (name, kind, _) = btf.header(id);
            if kind == KIND_STRUCT && name != 0 {
                let n = btf.str_at(name).to_string();
                btf.structs.entry(n).or_insert(id);
            }
        }
        Ok(btf)
    }

    /// (name offset, kind, vlen) of a type; ids come from the parsed index.
    fn header(&self, id: u32) -> (u32, u32, usize) {
        let o = self.types[id as usize];
        let name = u32_at(&self.data, o).unwrap_or(0);
        let info = u32_at(&self.data, o + 4).unwrap_or(0);
        (name, (info >> 24) & 0x1f, (info & 0xffff) as usize)
    }

    fn str_at(&self, off: u32) -> &str {
        let s = self
            .data
            .get(self.strings + off as usize..)
            .unwrap_or_default();
        let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
        std::str::from_utf8(&s[..end]).unwrap_or("")
    }

    /// Whether the kernel has a struct of this name.
    pub fn has_struct(&self, name: &str) -> bool {
        self.structs.contains_key(name)
    }

    /// Whether any enum of the kernel has a value of this name: the kernel's own list of
    /// what it supports, e.g. `BPF_FUNC_*` in `enum bpf_func_id` for the helpers.
    pub fn has_enum_value(&self, name: &str) -> bool {
        (1..self.types.len() as u32).any(|id| {
            let (_, kind, vlen) = self.header(id);
            let o = self.types[id as usize] + 12;
            kind == KIND_ENUM
                && (0..vlen)
                    .any(|i| u32_at(&self.data, o + 8 * i).is_some_and(|n| self.str_at(n) == name))
        })
    }

    /// The parameter count of kernel function `name`, when the BTF has it.
    pub fn func_params(&self, name: &str) -> Option<usize> {
        let id = (1..self.types.len() as u32).find(|&id| {
            let (n, kind, _) = self.header(id);
            kind == KIND_FUNC && self.str_at(n) == name
        })?;
        let proto = u32_at(&self.data, self.types[id as usize] + 8)?;
        if proto as usize >= self.types.len() {
            return None;
        }
        let (_, kind, vlen) = self.header(proto);
        (kind == KIND_FUNC_PROTO).then_some(vlen)
    }

    /// Byte offset of `member` in `struct st`, looking through anonymous unions/structs.
    pub fn member_offset(&self, st: &str, member: &str) -> Result<u32, BtfError> {
        let missing = || BtfError::NoMember {
            st: st.into(),
            member: member.into(),
        };
        let id = *self.structs.get(st).ok_or_else(missing)?;
        self.find(id, member)
            .map(|bits| bits / 8)
            .ok_or_else(missing)
    }

    /// Bit offset of `member` in aggregate `id`.
    fn find(&self, id: u32, member: &str) -> Option<u32> {
        let (_, kind, vlen) = self.header(id);
        if kind != KIND_STRUCT && kind != KIND_UNION {
            return None;
        }
        let o = self.types[id as usize];
        let kflag = u32_at(&self.data, o + 4)? >> 31;
        for i in 0..vlen {
            let m = o + 12 + 12 * i;
            let (name, type_id, off) = (
                u32_at(&self.data, m)?,
                u32_at(&self.data, m + 4)?,
                u32_at(&self.data, m + 8)?,
            );
            let bits = if kflag == 1 { off & 0xff_ffff } else { off };
            if name != 0 {
                if self.str_at(name) == member {
                    return Some(bits);
                }
            } else if (type_id as usize) < self.types.len()
                && let Some(inner) = self.find(type_id, member)
            {
                // Anonymous members are always a struct or union type, never a typedef.
                return Some(bits + inner);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_kernels_offsets() {
        let btf = Btf::from_sys_fs().expect("this machine has /sys/kernel/btf/vmlinux");
        // thread_info is the first member of task_struct on x86_64 (CONFIG_THREAD_INFO_IN_TASK).
        assert_eq!(btf.member_offset("task_struct", "thread_info").unwrap(), 0);
        // flags, syscall_work, status: status follows two unsigned longs on >= 5.11.
        assert_eq!(btf.member_offset("thread_info", "status").unwrap(), 16);
        assert_eq!(btf.member_offset("cgroup", "self").unwrap(), 0);
        assert!(btf.member_offset("task_struct", "no_such_member").is_err());
        // Helpers since 4.x and 5.11; this machine runs a newer kernel.
        assert!(btf.has_enum_value("BPF_FUNC_map_lookup_elem"));
        assert!(btf.has_enum_value("BPF_FUNC_get_current_task_btf"));
        assert!(!btf.has_enum_value("BPF_FUNC_no_such_helper"));
        // x86_64's pt_regs: r15 .. di, then orig_ax (the syscall number) at 15 * 8.
        assert_eq!(btf.member_offset("pt_regs", "orig_ax").unwrap(), 120);
        // void kfree(const void *), void schedule(void).
        assert_eq!(btf.func_params("kfree"), Some(1));
        assert_eq!(btf.func_params("schedule"), Some(0));
        assert_eq!(btf.func_params("no_such_function"), None);
    }

    #[test]
    fn rejects_garbage() {
        assert!(Btf::parse(b"not btf at all, definitely".to_vec()).is_err());
        assert!(Btf::parse(vec![0x9f, 0xeb, 1, 0]).is_err());
    }
}
