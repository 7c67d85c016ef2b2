//! Just enough of the kernel's BTF to find struct member offsets: Rust eBPF gets no CO-RE
//! relocations, so user space reads the offsets here and hands them to the program as
//! load-time constants.

use std::collections::{HashMap, HashSet};
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

/// What to keep of a kernel's BTF: the structs whose member offsets are asked for, and the
/// enum values whose presence is.
#[derive(Clone, Copy, Debug)]
pub struct Want<'a> {
    pub structs: &'a [&'a str],
    pub enum_values: &'a [&'a str],
    /// Functions whose parameter count is asked for.
    pub funcs: &'a [&'a str],
}

/// The wanted part of a kernel's BTF: each wanted struct's members and which wanted enum
/// values exist. The rest (megabytes) is dropped while parsing: aya parses the same BTF
/// meanwhile (see `trace::loader`), and the two add up in the recorder's peak memory.
#[derive(Debug)]
pub struct Btf {
    /// Struct name -> (member, bit offset), anonymous unions and structs flattened into
    /// their parent in declaration order (so the first match is the one C would use).
    structs: HashMap<String, Vec<(String, u32)>>,
    enum_values: HashSet<String>,
    /// Wanted function name -> its parameter count.
    funcs: HashMap<String, usize>,
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
    pub fn from_sys_fs(want: &Want<'_>) -> Result<Btf, BtfError> {
        let path = Path::new(VMLINUX);
        Btf::from_bytes(&read(path)?, path, want)
    }

    /// Parses `data`, read from `path` (named in errors).
    pub fn from_bytes(data: &[u8], path: &Path, want: &Want<'_>) -> Result<Btf, BtfError> {
        Btf::parse(data, want).map_err(|what| BtfError::Malformed {
            path: path.display().to_string(),
            what,
        })
    }

    fn parse(data: &[u8], want: &Want<'_>) -> Result<Btf, String> {
        let raw = Raw::parse(data)?;
        let mut btf = Btf {
            structs: HashMap::new(),
            enum_values: HashSet::new(),
            funcs: HashMap::new(),
        };
        for id in 1..raw.types.len() as u32 {
            let (name, kind, vlen) = raw.header(id);
            if kind == KIND_STRUCT && name != 0 {
                let name = raw.str_at(name);
                if want.structs.contains(&name) && !btf.structs.contains_key(name) {
                    let mut members = Vec::new();
                    raw.flatten(id, 0, &mut members, 0);
                    btf.structs.insert(name.to_string(), members);
                }
            } else if kind == KIND_FUNC && want.funcs.contains(&raw.str_at(name)) {
                let proto = u32_at(data, raw.types[id as usize] as usize + 8).unwrap_or(0);
                if proto != 0 && (proto as usize) < raw.types.len() {
                    let (_, kind, params) = raw.header(proto);
                    if kind == KIND_FUNC_PROTO {
                        btf.funcs.insert(raw.str_at(name).to_string(), params);
                    }
                }
            } else if kind == KIND_ENUM {
                let o = raw.types[id as usize] as usize + 12;
                for i in 0..vlen {
                    let value = raw.str_at(u32_at(data, o + 8 * i).unwrap_or(0));
                    if want.enum_values.contains(&value) {
                        btf.enum_values.insert(value.to_string());
                    }
                }
            }
        }
        Ok(btf)
    }

    /// Whether any enum of the kernel has a value of this name (one of [`Want::enum_values`]):
    /// the kernel's own list of what it supports, e.g. `BPF_FUNC_*` in `enum bpf_func_id`
    /// for the helpers.
    pub fn has_enum_value(&self, name: &str) -> bool {
        self.enum_values.contains(name)
    }

    /// The parameter count of kernel function `name` (one of [`Want::funcs`]), when the
    /// BTF has it.
    pub fn func_params(&self, name: &str) -> Option<usize> {
        self.funcs.get(name).copied()
    }

    /// Byte offset of `member` in `struct st` (one of [`Want::structs`]), looking through
    /// anonymous unions/structs.
    pub fn member_offset(&self, st: &str, member: &str) -> Result<u32, BtfError> {
        self.structs
            .get(st)
            .and_then(|members| members.iter().find(|(name, _)| name == member))
            .map(|(_, bits)| bits / 8)
            .ok_or_else(|| BtfError::NoMember {
                st: st.into(),
                member: member.into(),
            })
    }
}

/// The whole BTF while it is parsed: the bytes and where each type starts in them.
struct Raw<'a> {
    data: &'a [u8],
    strings: usize,
    /// Type id -> byte offset of its header in `data` (id 0 is void).
    types: Vec<u32>,
}

/// Anonymous members nested deeper than this are malformed BTF (a loop), not C.
const MAX_NESTING: u32 = 32;

impl Raw<'_> {
    fn parse(data: &[u8]) -> Result<Raw<'_>, String> {
        if data.get(0..2) != Some(&[0x9f, 0xeb][..]) {
            return Err("bad magic (only little-endian BTF is supported)".into());
        }
        let field = |o| {
            u32_at(data, o)
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
        if u32::try_from(data.len()).is_err() {
            return Err("over 4 GiB".into());
        }
        let mut types = vec![0];
        let mut o = hdr_len + type_off;
        let end = o + type_len;
        while o < end {
            let info = u32_at(data, o + 4).ok_or("truncated type")?;
            let (kind, vlen) = ((info >> 24) & 0x1f, (info & 0xffff) as usize);
            types.push(o as u32);
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
        Ok(Raw {
            data,
            strings,
            types,
        })
    }

    /// (name offset, kind, vlen) of a type; ids come from the parsed index.
    fn header(&self, id: u32) -> (u32, u32, usize) {
        let o = self.types[id as usize] as usize;
        let name = u32_at(self.data, o).unwrap_or(0);
        let info = u32_at(self.data, o + 4).unwrap_or(0);
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

    /// Appends the members of aggregate `id`, which starts `base` bits into the struct
    /// being flattened: named members as they are, anonymous ones by their own members.
    fn flatten(&self, id: u32, base: u32, out: &mut Vec<(String, u32)>, depth: u32) {
        let (_, kind, vlen) = self.header(id);
        if kind != KIND_STRUCT && kind != KIND_UNION || depth > MAX_NESTING {
            return;
        }
        let o = self.types[id as usize] as usize;
        let kflag = u32_at(self.data, o + 4).unwrap_or(0) >> 31;
        for i in 0..vlen {
            let m = o + 12 + 12 * i;
            let (Some(name), Some(type_id), Some(off)) = (
                u32_at(self.data, m),
                u32_at(self.data, m + 4),
                u32_at(self.data, m + 8),
            ) else {
                return;
            };
            let bits = base.saturating_add(if kflag == 1 { off & 0xff_ffff } else { off });
            if name != 0 {
                out.push((self.str_at(name).to_string(), bits));
            } else if (type_id as usize) < self.types.len() {
                // Anonymous members are always a struct or union type, never a typedef.
                self.flatten(type_id, bits, out, depth + 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFSETS: Want<'static> = Want {
        structs: &["task_struct", "thread_info", "cgroup", "pt_regs"],
        enum_values: &[
            "BPF_FUNC_map_lookup_elem",
            "BPF_FUNC_get_current_task_btf",
            "BPF_FUNC_no_such_helper",
        ],
        funcs: &["kfree", "schedule", "no_such_function"],
    };

    #[test]
    fn reads_this_kernels_offsets() {
        let btf = Btf::from_sys_fs(&OFFSETS).expect("this machine has /sys/kernel/btf/vmlinux");
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
        assert!(Btf::parse(b"not btf at all, definitely", &OFFSETS).is_err());
        assert!(Btf::parse(&[0x9f, 0xeb, 1, 0], &OFFSETS).is_err());
    }

    /// A BTF blob of `types` (each: name, info, size/type, then its extra words) and the
    /// string section `strings`.
    fn blob(types: &[&[u32]], strings: &[u8]) -> Vec<u8> {
        let types: Vec<u8> = types
            .iter()
            .flat_map(|t| t.iter())
            .flat_map(|w| w.to_le_bytes())
            .collect();
        let mut b = vec![0x9f, 0xeb, 1, 0];
        for w in [
            24,
            0,
            types.len() as u32,
            types.len() as u32,
            strings.len() as u32,
        ] {
            b.extend(w.to_le_bytes());
        }
        b.extend(types);
        b.extend(strings);
        b
    }

    fn info(kind: u32, vlen: u32, kflag: bool) -> u32 {
        (u32::from(kflag) << 31) | (kind << 24) | vlen
    }

    // Offsets into STRINGS.
    const INT: u32 = 1;
    const OUTER: u32 = 5;
    const A: u32 = 11;
    const B: u32 = 13;
    const C: u32 = 15;
    const OTHER: u32 = 17;
    const E1: u32 = 23;
    const E2: u32 = 26;
    const STRINGS: &[u8] = b"\0int\0outer\0a\0b\0c\0other\0E1\0E2\0";

    /// struct outer { int a; union { int b; struct { int pad; int c; }; }; };
    /// struct other { int a; }; enum { E1, E2 }; type 6 is an anonymous union that holds
    /// itself (malformed).
    fn sample() -> Vec<u8> {
        blob(
            &[
                // 1: int
                &[INT, info(KIND_INT, 0, false), 4, 32],
                // 2: struct outer (kind_flag: offsets carry a bitfield size above bit 24)
                &[
                    OUTER,
                    info(KIND_STRUCT, 2, true),
                    12,
                    A,
                    1,
                    0,
                    0,
                    3,
                    (8 << 24) | 32,
                ],
                // 3: union { int b; struct {...}; }
                &[0, info(KIND_UNION, 2, false), 8, B, 1, 0, 0, 4, 0],
                // 4: struct { int :32; int c; } (an unnamed member that is no aggregate)
                &[0, info(KIND_STRUCT, 2, false), 8, 0, 1, 0, C, 1, 32],
                // 5: struct other, and 6: enum
                &[OTHER, info(KIND_STRUCT, 1, false), 4, A, 1, 0],
                &[0, info(KIND_ENUM, 2, false), 4, E1, 0, E2, 1],
                // 7: struct outer again (the first one of a name counts); 8: a loop
                &[OUTER, info(KIND_STRUCT, 1, false), 4, C, 1, 0],
                &[0, info(KIND_UNION, 1, false), 4, 0, 8, 0],
            ],
            STRINGS,
        )
    }

    #[test]
    fn keeps_the_wanted_structs_members_through_anonymous_ones() {
        let want = Want {
            structs: &["outer", "missing"],
            enum_values: &["E2", "E3"],
            funcs: &[],
        };
        let btf = Btf::parse(&sample(), &want).unwrap();
        assert_eq!(btf.member_offset("outer", "a").unwrap(), 0);
        assert_eq!(btf.member_offset("outer", "b").unwrap(), 4);
        // The inner struct starts with the union, 4 bytes in; c is 4 bytes into it.
        assert_eq!(btf.member_offset("outer", "c").unwrap(), 8);
        // Not asked for, or not in this kernel: no offset.
        assert!(btf.member_offset("other", "a").is_err());
        assert!(btf.member_offset("missing", "a").is_err());
        assert!(btf.has_enum_value("E2"));
        assert!(!btf.has_enum_value("E1") && !btf.has_enum_value("E3"));
        // Only what was asked for is kept.
        assert_eq!(btf.structs.len(), 1);
        assert_eq!(btf.structs["outer"].len(), 3);
    }

    #[test]
    fn an_anonymous_member_that_holds_itself_ends() {
        let mut types = sample();
        // Make struct other's member anonymous and of the looping union's type.
        let other = 24 + 4 * (4 + 9 + 9 + 9);
        types[other + 12..other + 16].copy_from_slice(&0u32.to_le_bytes());
        types[other + 16..other + 20].copy_from_slice(&8u32.to_le_bytes());
        let want = Want {
            structs: &["other"],
            enum_values: &[],
            funcs: &[],
        };
        let btf = Btf::parse(&types, &want).unwrap();
        assert!(btf.member_offset("other", "a").is_err());
    }
}
