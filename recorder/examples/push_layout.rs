//! Pushes an OCI image layout with the library's OCI code:
//! `cargo run -p seccomp-recorder --example push_layout -- DIR REGISTRY/REPOSITORY:TAG`.
//! `cargo xtask image --push` runs it. Credentials are found as for `seccomp-recorder push`
//! (REGISTRY_USERNAME/REGISTRY_PASSWORD, then the Docker and Podman auth files).

use anyhow::{Context, bail};
use seccomp_recorder::oci::{Access, push_layout};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [layout, reference] = args.as_slice() else {
        bail!("usage: push_layout LAYOUT-DIR REGISTRY/REPOSITORY:TAG");
    };
    let pushed = push_layout(layout.as_ref(), reference, &Access::default())
        .with_context(|| format!("pushing {layout} to {reference}"))?;
    for note in &pushed.notes {
        eprintln!("push_layout: {note}");
    }
    println!("{reference}@{}", pushed.digest);
    Ok(())
}
