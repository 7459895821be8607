//! Records the git revision the crate is built from (for `--version` and
//! report provenance), when it is built from a checkout, and the rustc
//! that builds it, and the optimisation level it is compiled at. Outside a checkout (a crates.io download, a tarball) the
//! revision is simply unknown.

use std::path::Path;
use std::process::Command;

fn main() {
    let git = Path::new(".git");
    if git.exists() {
        // Rebuild when HEAD moves: HEAD itself names a branch, whose ref
        // file (or packed-refs) changes on every commit.
        println!("cargo:rerun-if-changed=.git/HEAD");
        println!("cargo:rerun-if-changed=.git/packed-refs");
        if let Ok(head) = std::fs::read_to_string(git.join("HEAD"))
            && let Some(r) = head.strip_prefix("ref: ")
        {
            println!("cargo:rerun-if-changed=.git/{}", r.trim());
        }
    }
    let revision = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=TIEDAE_GIT_REVISION={revision}");
    // The compiler cargo builds with (RUSTC), for report provenance.
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "rustc (version unknown)".into());
    println!("cargo:rustc-env=TIEDAE_RUSTC_VERSION={version}");
    // The optimisation level tiedae itself is compiled at, so a binary
    // built without optimisation can say so before hours of slow training.
    let opt_level = std::env::var("OPT_LEVEL").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=TIEDAE_OPT_LEVEL={opt_level}");
}
