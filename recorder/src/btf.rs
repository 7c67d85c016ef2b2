//! Just enough of the kernel's BTF to find struct member offsets: Rust eBPF gets no CO-RE
//! relocations, so user space reads the offsets here and hands them to the program as
//! load-time constants.

use std::collections::HashMap;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum BtfError {
    #[error(
        "cannot read kernel BTF at {path}: {source} (the kernel needs CONFIG_DEBUG_INFO_BTF=y)"
    )]
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
const KIND_FUNC_PROTO: u32 = 13;
const KIND_VAR: u32 = 14;
const KIND_DATASEC: u32 = 15;
const KIND_DECL_TAG: u32 = 17;
const KIND_ENUM64: u32 = 19;

struct Member {
    name: u32,
    type_id: u32,
    bit_offset: u32,
}

struct Type {
    name: u32,
    kind: u32,
    members: Vec<Member>,
}

/// Parsed vmlinux BTF: types and their string table.
pub struct Btf {
    types: Vec<Type>,
    strings: Vec<u8>,
    structs: HashMap<String, u32>,
}

impl Btf {
    pub fn from_sys_fs() -> Result<Btf, BtfError> {
        Btf::from_file(Path::new("/sys/kernel/btf/vmlinux"))
    }

    pub fn from_file(path: &Path) -> Result<Btf, BtfError> {
        let p = path.display().to_string();
        let data = std::fs::read(path).map_err(|source| BtfError::Read {
            path: p.clone(),
            source,
        })?;
        Btf::parse(&data).map_err(|what| BtfError::Malformed { path: p, what })
    }

    fn parse(data: &[u8]) -> Result<Btf, String> {
        let u16_at = |o: usize| data.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
        let u32_at = |o: usize| {
            data.get(o..o + 4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        };
        if u16_at(0) != Some(0xeb9f) {
            return Err("bad magic (only little-endian BTF is supported)".into());
        }
        let field = |o| u32_at(o).ok_or("truncated header").map(|v| v as usize);
        let hdr_len = field(4)?;
        let (type_off, type_len, str_off, str_len) =
            (field(8)?, field(12)?, field(16)?, field(20)?);
        let strings = data
            .get(hdr_len + str_off..hdr_len + str_off + str_len)
            .ok_or("string section out of bounds")?
            .to_vec();
        let mut types = vec![Type {
            name: 0,
            kind: 0,
            members: Vec::new(),
        }];
        let mut o = hdr_len + type_off;
        let end = o + type_len;
        while o < end {
            let name = u32_at(o).ok_or("truncated type")?;
            let info = u32_at(o + 4).ok_or("truncated type")?;
            let (kind, vlen, kflag) = ((info >> 24) & 0x1f, (info & 0xffff) as usize, info >> 31);
            o += 12;
            let mut members = Vec::new();
            match kind {
                KIND_INT | KIND_VAR | KIND_DECL_TAG => o += 4,
                KIND_ARRAY => o += 12,
                KIND_STRUCT | KIND_UNION => {
                    for _ in 0..vlen {
                        let off = u32_at(o + 8).ok_or("truncated member")?;
                        members.push(Member {
                            name: u32_at(o).ok_or("truncated member")?,
                            type_id: u32_at(o + 4).ok_or("truncated member")?,
                            bit_offset: if kflag == 1 { off & 0xff_ffff } else { off },
                        });
                        o += 12;
                    }
                }
                KIND_ENUM | KIND_FUNC_PROTO => o += 8 * vlen,
                KIND_DATASEC | KIND_ENUM64 => o += 12 * vlen,
                0..=19 => {}
                _ => return Err(format!("unknown BTF kind {kind}")),
            }
            types.push(Type {
                name,
                kind,
                members,
            });
        }
        let mut btf = Btf {
            types,
            strings,
            structs: HashMap::new(),
        };
        for (id, t) in btf.types.iter().enumerate() {
            if t.kind == KIND_STRUCT && t.name != 0 {
                let n = btf.str_at(t.name).to_string();
                btf.structs.entry(n).or_insert(id as u32);
            }
        }
        Ok(btf)
    }

    fn str_at(&self, off: u32) -> &str {
        let s = self.strings.get(off as usize..).unwrap_or_default();
        let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
        std::str::from_utf8(&s[..end]).unwrap_or("")
    }

    /// Whether the kernel has a struct of this name.
    pub fn has_struct(&self, name: &str) -> bool {
        self.structs.contains_key(name)
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

    fn find(&self, id: u32, member: &str) -> Option<u32> {
        let t = self.types.get(id as usize)?;
        for m in &t.members {
            if m.name != 0 {
                if self.str_at(m.name) == member {
                    return Some(m.bit_offset);
                }
            } else if let Some(inner) = self.resolve_aggregate(m.type_id)
                && let Some(off) = self.find(inner, member)
            {
                return Some(m.bit_offset + off);
            }
        }
        None
    }

    /// Anonymous members are always a struct or union type, never a typedef.
    fn resolve_aggregate(&self, id: u32) -> Option<u32> {
        let t = self.types.get(id as usize)?;
        (t.kind == KIND_STRUCT || t.kind == KIND_UNION).then_some(id)
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
    }

    #[test]
    fn rejects_garbage() {
        assert!(Btf::parse(b"not btf at all, definitely").is_err());
        assert!(Btf::parse(&[0x9f, 0xeb, 1, 0]).is_err());
    }
}
