//! `cargo xtask bench` (in progress).

use anyhow::{Result, bail};
use std::path::Path;

pub fn run(_root: &Path, _args: &[String]) -> Result<()> {
    bail!("benchmarks are not written yet")
}
