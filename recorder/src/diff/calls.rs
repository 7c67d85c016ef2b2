//! Facts about single syscalls that a seccomp profile does not show: the capability the
//! kernel checks, and why removing a call matters.

/// The capability the kernel itself checks for a call (man pages, capabilities(7)); seccomp
/// letting it through does not make it work without it. Some calls need it only for some
/// arguments: the second value says which.
pub(super) fn kernel_cap(name: &str) -> Option<(&'static str, Option<&'static str>)> {
    Some(match name {
        "unshare" => (
            "CAP_SYS_ADMIN",
            Some("not for CLONE_NEWUSER alone or flags that make no namespace"),
        ),
        "setns" => (
            "CAP_SYS_ADMIN",
            Some("held in the user namespace owning the target"),
        ),
        "quotactl" => ("CAP_SYS_ADMIN", Some("not to read quota information")),
        _ => (kernel_cap_always(name)?, None),
    })
}

fn kernel_cap_always(name: &str) -> Option<&'static str> {
    Some(match name {
        "mount" | "umount" | "umount2" | "pivot_root" | "fsopen" | "fsmount" | "fsconfig"
        | "fspick" | "move_mount" | "open_tree" | "mount_setattr" | "sethostname"
        | "setdomainname" | "swapon" | "swapoff" | "lookup_dcookie" => "CAP_SYS_ADMIN",
        "reboot" | "kexec_load" | "kexec_file_load" => "CAP_SYS_BOOT",
        "chroot" => "CAP_SYS_CHROOT",
        "init_module" | "finit_module" | "delete_module" => "CAP_SYS_MODULE",
        "acct" => "CAP_SYS_PACCT",
        "iopl" | "ioperm" => "CAP_SYS_RAWIO",
        "settimeofday" | "stime" | "clock_settime" | "clock_settime64" => "CAP_SYS_TIME",
        "vhangup" => "CAP_SYS_TTY_CONFIG",
        "open_by_handle_at" => "CAP_DAC_READ_SEARCH",
        "bpf" => "CAP_BPF",
        _ => return None,
    })
}

pub(super) fn notable(name: &str) -> Option<&'static str> {
    Some(match name {
        "ptrace" | "process_vm_readv" | "process_vm_writev" | "pidfd_getfd" | "kcmp" => {
            "reads or controls other processes"
        }
        "bpf" => "loads programs into the kernel",
        "perf_event_open" => "kernel performance events, a frequent source of kernel bugs",
        "unshare" | "setns" => "creates or enters namespaces, the first step of many escapes",
        "keyctl" | "add_key" | "request_key" => "the kernel keyring, which is not namespaced",
        "io_uring_setup" | "io_uring_enter" | "io_uring_register" => {
            "io_uring: large kernel attack surface whose operations seccomp cannot see"
        }
        "userfaultfd" => "lets exploits stall the kernel to win races",
        "mount" | "umount2" | "pivot_root" | "move_mount" | "open_tree" | "fsopen" | "fsmount"
        | "fsconfig" | "fspick" | "mount_setattr" => "changes the mount table",
        "init_module" | "finit_module" | "delete_module" | "kexec_load" | "kexec_file_load" => {
            "loads kernel code"
        }
        "open_by_handle_at" => "opens files by handle, around path checks (the 'shocker' escape)",
        "personality" => "changes the process ABI, e.g. turns off ASLR",
        "chroot" => "changes the root directory",
        "reboot" => "reboots or halts the machine",
        "syslog" => "reads the kernel log",
        _ => return None,
    })
}
