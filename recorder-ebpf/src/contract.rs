//! How the object's maps, globals and programs are declared: once, in the `declare!`
//! table in `lib.rs`, from which both halves get what they need. User space gets typed
//! definitions ([`MapDef`], [`GlobalDef`], [`ProgramDef`]) to open, set and attach them
//! by; the kernel side gets the statics themselves (`recorder_ebpf::kernel`), with the
//! same names, types and sizes. A program's code lives in the object's crate, under the
//! function name its [`ProgramDef`] gives; a test checks the built object against it.

use core::marker::PhantomData;
use core::mem::size_of;

/// What a map is in the object (the aya type user space opens it as).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapKind {
    Hash,
    Array,
    /// A hash with one value per CPU: exact counting without atomics (the BPF target has
    /// no atomic add in `core`).
    PerCpuHash,
}

/// A map of the object: its name beside its kind, key and value types, and the size the
/// object gives it (user space resizes some at load time).
pub struct MapDef<K, V> {
    pub name: &'static str,
    pub kind: MapKind,
    pub max_entries: u32,
    types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> MapDef<K, V> {
    pub(crate) const fn new(name: &'static str, kind: MapKind, max_entries: u32) -> Self {
        MapDef {
            name,
            kind,
            max_entries,
            types: PhantomData,
        }
    }

    pub const fn spec(&self) -> MapSpec {
        MapSpec {
            name: self.name,
            kind: self.kind,
            key_size: size_of::<K>(),
            value_size: size_of::<V>(),
            max_entries: self.max_entries,
        }
    }
}

/// A [`MapDef`] without its types, for checking the object.
#[derive(Clone, Copy, Debug)]
pub struct MapSpec {
    pub name: &'static str,
    pub kind: MapKind,
    pub key_size: usize,
    pub value_size: usize,
    pub max_entries: u32,
}

/// A read-only global of the object that user space sets at load time.
pub struct GlobalDef<T> {
    pub name: &'static str,
    ty: PhantomData<fn() -> T>,
}

impl<T> GlobalDef<T> {
    pub(crate) const fn new(name: &'static str) -> Self {
        GlobalDef {
            name,
            ty: PhantomData,
        }
    }

    pub const fn size(&self) -> usize {
        size_of::<T>()
    }
}

/// How a program attaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgramKind {
    /// `tp_btf/<function>`.
    BtfTracePoint { function: &'static str },
    /// `raw_tp/<tracepoint>`.
    RawTracePoint { tracepoint: &'static str },
    /// `tracepoint/<category>/<name>`.
    TracePoint {
        category: &'static str,
        name: &'static str,
    },
    /// `fexit/<function>`.
    FExit { function: &'static str },
}

/// A program of the object: its name (the kernel-side function's) and where it attaches.
/// The kernel side writes only the program type (`#[btf_tracepoint]`, ...): where it
/// attaches is user space's to say, from here.
#[derive(Clone, Copy, Debug)]
pub struct ProgramDef {
    pub name: &'static str,
    pub kind: ProgramKind,
}

/// The object's table. Each line declares one item:
/// - `NAME: Hash<K, V>[max];`, `NAME: PerCpuHash<K, V>[max];` or `NAME: Array<u32, V>[max];`
///   a map;
/// - `NAME: T = default;` a global;
/// - `CONST = function: Kind { field: value, ... };` a program.
///
/// It makes `maps`, `globals` and `programs` (a const per item and `ALL`), and, when built
/// for BPF, `kernel` with the map and global statics the programs use.
macro_rules! declare {
    (
        maps { $( $(#[$mdoc:meta])* $map:ident: $mkind:ident<$key:ty, $value:ty>[$max:expr]; )* }
        globals { $( $(#[$gdoc:meta])* $global:ident: $gty:ty = $gval:expr; )* }
        programs { $( $(#[$pdoc:meta])* $prog:ident = $func:ident: $pkind:ident { $($field:ident: $fval:expr),* }; )* }
    ) => {
        /// The maps of the object.
        pub mod maps {
            #[allow(unused_imports)]
            use super::*;
            use $crate::contract::{MapDef, MapKind, MapSpec};
            $( $(#[$mdoc])*
            pub const $map: MapDef<$key, $value> =
                MapDef::new(stringify!($map), MapKind::$mkind, $max); )*

            pub const ALL: &[MapSpec] = &[$($map.spec()),*];
        }

        /// The read-only globals of the object, set by user space at load time.
        pub mod globals {
            #[allow(unused_imports)]
            use super::*;
            use $crate::contract::GlobalDef;
            $( $(#[$gdoc])*
            pub const $global: GlobalDef<$gty> = GlobalDef::new(stringify!($global)); )*

            /// (name, size) of each.
            pub const ALL: &[(&str, usize)] = &[$(($global.name, $global.size())),*];
        }

        /// The programs of the object.
        pub mod programs {
            use $crate::contract::{ProgramDef, ProgramKind};
            $( $(#[$pdoc])*
            pub const $prog: ProgramDef = ProgramDef {
                name: stringify!($func),
                kind: ProgramKind::$pkind { $($field: $fval),* },
            }; )*

            pub const ALL: &[ProgramDef] = &[$($prog),*];
        }

        /// The maps and globals themselves, for the programs (`recorder-ebpf`'s and the
        /// benchmark's). Read a global with `read_volatile`, so that the value user space
        /// sets is not folded away at build time.
        #[cfg(target_arch = "bpf")]
        pub mod kernel {
            #[allow(unused_imports)]
            use super::*;
            $( declare!(@map $(#[$mdoc])* $map $mkind $key, $value, $max); )*
            $( $(#[$gdoc])*
            #[unsafe(no_mangle)]
            pub static $global: $gty = $gval; )*
        }
    };
    (@map $(#[$doc:meta])* $map:ident Hash $key:ty, $value:ty, $max:expr) => {
        $(#[$doc])*
        #[aya_ebpf::macros::map]
        pub static $map: aya_ebpf::maps::HashMap<$key, $value> =
            aya_ebpf::maps::HashMap::with_max_entries($max, 0);
    };
    (@map $(#[$doc:meta])* $map:ident PerCpuHash $key:ty, $value:ty, $max:expr) => {
        $(#[$doc])*
        #[aya_ebpf::macros::map]
        pub static $map: aya_ebpf::maps::PerCpuHashMap<$key, $value> =
            aya_ebpf::maps::PerCpuHashMap::with_max_entries($max, 0);
    };
    (@map $(#[$doc:meta])* $map:ident Array $key:ty, $value:ty, $max:expr) => {
        $(#[$doc])*
        #[aya_ebpf::macros::map]
        pub static $map: aya_ebpf::maps::Array<$value> =
            aya_ebpf::maps::Array::with_max_entries($max, 0);
    };
}
