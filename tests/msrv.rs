//! The `rust-version` Cargo.toml declares is what the code needs.
//!
//! This machine has one toolchain, so CI cannot build with the declared
//! minimum itself. Instead the declaration is held between two bounds: at
//! least the release that stabilised the newest language feature the
//! sources use (let-chains, Rust 1.88), and at most the toolchain running
//! the tests (which compiled them).

use std::path::Path;
use std::process::Command;

/// `"1.88"` or `"1.88.0"` as (1, 88).
fn minor(version: &str) -> (u32, u32) {
    let mut parts = version.trim().split('.').map(|p| p.parse::<u32>().unwrap());
    (parts.next().unwrap(), parts.next().unwrap())
}

fn declared() -> (u32, u32) {
    let toml =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    let line = toml
        .lines()
        .find(|l| l.trim_start().starts_with("rust-version"))
        .expect("Cargo.toml declares a rust-version");
    minor(line.split('"').nth(1).expect("a quoted version"))
}

/// Whether any source file chains `let` conditions (`if let … &&`).
fn uses_let_chains(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().any(|e| {
        let p = e.unwrap().path();
        if p.is_dir() {
            return uses_let_chains(&p);
        }
        p.extension().is_some_and(|x| x == "rs")
            && std::fs::read_to_string(&p).unwrap().lines().any(|l| {
                let t = l.trim_start();
                (t.starts_with("if let ") || t.starts_with("&& let ")) && l.contains("&&")
            })
    })
}

#[test]
fn rust_version_is_what_the_code_needs() {
    let declared = declared();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    assert!(
        uses_let_chains(&src),
        "no let-chain found: the 1.88 floor no longer applies"
    );
    assert!(
        declared >= (1, 88),
        "let-chains need Rust 1.88, Cargo.toml says {declared:?}"
    );
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(rustc).arg("--version").output().unwrap();
    let v = String::from_utf8_lossy(&out.stdout).into_owned();
    let running = minor(v.split_whitespace().nth(1).expect("rustc X.Y.Z"));
    assert!(
        declared <= running,
        "rust-version {declared:?} is newer than the toolchain {v}"
    );
}
