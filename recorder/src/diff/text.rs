//! The report as text for people.

use super::{ArchReport, Blocked, Conditional, Report};

/// Text for people: one block per baseline and arch.
pub fn render_text(profile: &str, reports: &[Report], colour: bool) -> String {
    let paint = Paint(colour);
    let mut out = String::new();
    for r in reports {
        out += &format!(
            "{profile} against {}\nkernel {}, caps: {}\n",
            paint.on("1", &r.against),
            r.kernel,
            caps_list(&r.caps)
        );
        if !r.arches_removed.is_empty() {
            out += &format!(
                "  removed architectures: {} (RuntimeDefault runs them; the profile refuses every call)\n",
                paint.on("32", &r.arches_removed.join(", "))
            );
        }
        if r.arches.is_empty() {
            out += "  none of the profile's architectures has a syscall table here \
                    (known: x86_64, x86, x32, aarch64, arm)\n";
        }
        for a in &r.arches {
            render_arch(&mut out, a, paint);
        }
    }
    out
}

/// ANSI colours when asked for.
#[derive(Clone, Copy)]
struct Paint(bool);

impl Paint {
    fn on(self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
}

fn render_arch(out: &mut String, a: &ArchReport, paint: Paint) {
    *out += &format!("  {}\n", paint.on("1", &a.arch));
    if !a.covered {
        *out += &format!(
            "    {}\n",
            paint.on(
                "31",
                "not covered: RuntimeDefault does not list this architecture, every call would fail"
            )
        );
    }
    render_blocked(out, &a.would_be_blocked, paint);
    render_conditional(out, &a.conditional, paint);
    for k in &a.kernel_needs_cap {
        let detail = k
            .detail
            .as_ref()
            .map(|d| format!(" ({d})"))
            .unwrap_or_default();
        *out += &format!(
            "    note: seccomp allows {}, but the kernel refuses it without {}{detail}\n",
            k.name, k.cap
        );
    }
    *out += &format!(
        "    removed: {} of the {} calls RuntimeDefault allows ({}%); the profile allows {}\n",
        paint.on("32", &a.removed.len().to_string()),
        a.runtime_default_allows,
        a.removed_percent,
        a.profile_allows
    );
    for n in &a.notable_removed {
        *out += &format!("      {}: {}\n", paint.on("32", &n.name), n.why);
    }
}

fn render_blocked(out: &mut String, blocked: &[Blocked], paint: Paint) {
    *out += &format!(
        "    would be blocked ({}){}\n",
        blocked.len(),
        if blocked.is_empty() { ": none" } else { ":" }
    );
    for b in blocked {
        let result = b
            .errno_name
            .clone()
            .or(b.errno.map(|e| e.to_string()))
            .unwrap_or_else(|| b.action.clone());
        let with = if b.allowed_with.is_empty() {
            String::new()
        } else {
            format!(" (allowed with {})", b.allowed_with.join(" or "))
        };
        *out += &format!("      {} -> {result}{with}\n", paint.on("31", &b.name));
    }
}

fn render_conditional(out: &mut String, conditional: &[Conditional], paint: Paint) {
    if !conditional.is_empty() {
        *out += &format!("    allowed only conditionally ({}):\n", conditional.len());
    }
    for c in conditional {
        let mut why = Vec::new();
        if !c.only_with_args.is_empty() {
            why.push(format!("only if {}", c.only_with_args.join(" | ")));
        }
        if !c.needs_caps.is_empty() {
            why.push(format!("only with {}", c.needs_caps.join(", ")));
        }
        *out += &format!("      {}: {}\n", paint.on("33", &c.name), why.join("; "));
    }
}

fn caps_list(caps: &[String]) -> String {
    if caps.is_empty() {
        "none".into()
    } else {
        caps.iter()
            .map(|c| c.trim_start_matches("CAP_"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}
