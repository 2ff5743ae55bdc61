//! Embeds the commit for `--version`: dockerd runs `docker-init --version`
//! and reads `... - git.COMMIT` from it (moby's parseInitVersion).

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    output.status.success().then(|| text.trim().to_string())
}

fn main() {
    // Docker splits `git.COMMIT` on '.', so the fallback (a source tarball,
    // a Docker build context without .git) must be one dot-free word too.
    // Older dockerd slices its own 7-character init commit to the length
    // of ours, so never more than 7.
    let commit = git(&["rev-parse", "--short=7", "HEAD"])
        .filter(|c| c.len() >= 7 && c.chars().all(|ch| ch.is_ascii_alphanumeric()))
        .map_or_else(|| "unknown".into(), |c| c[..7].to_string());
    println!("cargo:rustc-env=GRACEINIT_COMMIT={commit}");
    println!("cargo:rerun-if-changed=build.rs");
    // Rebuild when HEAD moves; a worktree's HEAD and refs live outside ./.git.
    let symbolic = git(&["rev-parse", "--symbolic-full-name", "HEAD"]);
    for name in ["HEAD", "packed-refs"]
        .into_iter()
        .chain(symbolic.as_deref())
    {
        if let Some(path) = git(&["rev-parse", "--git-path", name]) {
            if Path::new(&path).exists() {
                println!("cargo:rerun-if-changed={path}");
            }
        }
    }
}
