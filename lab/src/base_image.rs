//! Building the lab's images, once: a Debian 12 minbase root filesystem
//! from debootstrap (its tarball cached, so even after `docker rmi` no
//! download is repeated), imported as [`MINBASE_IMAGE`]; every other image
//! is a `docker build` of a recipe `FROM` it (see [`super::recipes`]).
//!
//! Builds hold a lock in the cache folder, so parallel `push lab` runs (the
//! test suite) build each image once and wait for each other.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::docker::{last_line, stream_command, Docker};
use crate::progress::Progress;
use crate::recipes::{hex, Recipe, MINBASE_IMAGE, MINBASE_SOURCES_LIST, RECIPE_LABEL};
use crate::{prereqs, Error, Result};

const SUITE: &str = "bookworm";
const MIRROR: &str = "http://deb.debian.org/debian";
/// Bump when the way the rootfs is prepared changes.
const ROOTFS_RECIPE_VERSION: &str = "1";

/// Where the rootfs tarball and the build lock live: `$PUSH_LAB_CACHE`,
/// else `$XDG_CACHE_HOME/push/lab`, else `~/.cache/push/lab`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PUSH_LAB_CACHE").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir).join("push").join("lab");
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(home) => PathBuf::from(home).join(".cache").join("push").join("lab"),
        None => std::env::temp_dir().join("push-lab-cache"),
    }
}

/// Held while images are built; other `push lab` processes wait.
pub struct BuildLock {
    dir: PathBuf,
}

impl BuildLock {
    /// A folder made with `mkdir` (atomic) holding the owner's pid; a lock
    /// whose owner is gone is taken over.
    pub fn acquire(cache: &Path, progress: &Progress) -> Result<BuildLock> {
        std::fs::create_dir_all(cache).map_err(|e| Error::Failed(format!("cannot create {}: {e}", cache.display())))?;
        let dir = cache.join("build.lock");
        let deadline = Instant::now() + Duration::from_secs(45 * 60);
        let mut said = false;
        loop {
            match std::fs::create_dir(&dir) {
                Ok(()) => {
                    let _ = std::fs::write(dir.join("pid"), std::process::id().to_string());
                    return Ok(BuildLock { dir });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let owner =
                        std::fs::read_to_string(dir.join("pid")).ok().and_then(|p| p.trim().parse::<u32>().ok());
                    match owner {
                        Some(pid) if Path::new(&format!("/proc/{pid}")).exists() => {
                            if !said {
                                progress.phase(&format!(
                                    "waiting for another push lab (pid {pid}) to finish building images"
                                ));
                                said = true;
                            }
                        }
                        // No pid yet: the owner may be between mkdir and write.
                        None if dir
                            .metadata()
                            .and_then(|m| m.modified())
                            .is_ok_and(|t| t.elapsed().unwrap_or_default() < Duration::from_secs(5)) => {}
                        _ => {
                            let _ = std::fs::remove_file(dir.join("pid"));
                            let _ = std::fs::remove_dir(&dir);
                            continue;
                        }
                    }
                    if Instant::now() > deadline {
                        return Err(Error::Failed(format!(
                            "gave up waiting for the image build lock {} (held for 45 minutes)",
                            dir.display()
                        )));
                    }
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(e) => return Err(Error::Failed(format!("cannot create {}: {e}", dir.display()))),
            }
        }
    }
}

impl Drop for BuildLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.dir.join("pid"));
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// The debootstrap command for the minbase root filesystem.
fn debootstrap_args(target: &Path) -> Vec<String> {
    vec!["--variant=minbase".into(), SUITE.into(), target.display().to_string(), MIRROR.into()]
}

fn minbase_fingerprint() -> String {
    let mut h = Sha256::new();
    for part in [ROOTFS_RECIPE_VERSION, SUITE, MIRROR, MINBASE_SOURCES_LIST] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    hex(&h.finalize()[..16])
}

/// Whether [`MINBASE_IMAGE`] is here and from the current recipe.
pub fn minbase_is_current(docker: &Docker) -> Result<bool> {
    Ok(docker.image_label(MINBASE_IMAGE, RECIPE_LABEL)?.as_deref() == Some(minbase_fingerprint().as_str()))
}

/// Whether each `(recipe, tag)` (no build arguments) is built from its
/// current recipe and base.
pub fn images_are_current(docker: &Docker, images: &[(&Recipe, &str)]) -> Result<bool> {
    for (recipe, tag) in images {
        let Some(from_id) = docker.image_id(recipe.from)? else { return Ok(false) };
        if docker.image_label(tag, RECIPE_LABEL)?.as_deref() != Some(recipe.fingerprint(&[], &from_id).as_str()) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// [`MINBASE_IMAGE`], imported from the cached tarball, or built with
/// debootstrap when there is none.
pub fn ensure_minbase(docker: &Docker, progress: &Progress) -> Result<()> {
    if minbase_is_current(docker)? {
        return Ok(());
    }
    let fingerprint = minbase_fingerprint();
    let cache = cache_dir();
    let tarball = cache.join(format!("debian-{SUITE}-minbase-{fingerprint}.tar"));
    if !tarball.is_file() {
        build_rootfs_tarball(&cache, &tarball, progress)?;
    }
    progress.phase(&format!("base image {MINBASE_IMAGE}: docker import"));
    let tar = tarball.display().to_string();
    docker.output([
        "import",
        "--change",
        "CMD [\"bash\"]",
        "--change",
        &format!("LABEL {RECIPE_LABEL}={fingerprint}"),
        &tar,
        MINBASE_IMAGE,
    ])?;
    progress.done(&format!("imported {MINBASE_IMAGE}"));
    Ok(())
}

fn build_rootfs_tarball(cache: &Path, tarball: &Path, progress: &Progress) -> Result<()> {
    let debootstrap = prereqs::require_debootstrap()?;
    let rootfs = cache.join(format!("rootfs.{}", std::process::id()));
    remove_rootfs(&rootfs)?;
    progress.phase(&format!("base image: debootstrap --variant=minbase {SUITE} (downloading Debian packages)"));
    let mut cmd = Command::new(&debootstrap);
    cmd.args(debootstrap_args(&rootfs));
    let mut tail = Vec::new();
    let result = stream_command(cmd, &|l| progress.detail(l), &mut tail);
    if let Err(e) = result {
        progress.tail(&tail);
        let _ = remove_rootfs(&rootfs);
        return Err(e);
    }
    progress.done(&format!("debootstrap {SUITE}"));

    progress.phase("base image: configuring and packing the root filesystem");
    let configured = configure_rootfs(&rootfs).and_then(|()| {
        let partial = tarball.with_extension("tar.partial");
        let out = Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .args(["--numeric-owner", "-cf"])
            .arg(&partial)
            .arg(".")
            .output()
            .map_err(|e| Error::Failed(format!("cannot run tar: {e}")))?;
        if !out.status.success() {
            return Err(Error::Failed(format!(
                "tar of {} failed: {}",
                rootfs.display(),
                last_line(&String::from_utf8_lossy(&out.stderr))
            )));
        }
        std::fs::rename(&partial, tarball)
            .map_err(|e| Error::Failed(format!("cannot rename {}: {e}", partial.display())))
    });
    let removed = remove_rootfs(&rootfs);
    configured?;
    removed?;
    // Tarballs of older recipes are of no more use.
    if let Ok(entries) = std::fs::read_dir(cache) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(&format!("debian-{SUITE}-minbase-")) && e.path() != tarball {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    progress.done(&format!("cached {}", tarball.display()));
    Ok(())
}

/// What a fresh Debian host has and a debootstrap leaves different: the
/// apt sources of a real install (with updates and security), and no
/// downloaded packages or package lists (a host runs `apt-get update`).
fn configure_rootfs(rootfs: &Path) -> Result<()> {
    let io = |what: &str, e: std::io::Error| Error::Failed(format!("configuring the rootfs: {what}: {e}"));
    std::fs::write(rootfs.join("etc/apt/sources.list"), MINBASE_SOURCES_LIST).map_err(|e| io("sources.list", e))?;
    for dir in ["var/cache/apt/archives", "var/lib/apt/lists"] {
        let dir = rootfs.join(dir);
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_file()) {
                std::fs::remove_file(e.path()).map_err(|err| io(&dir.display().to_string(), err))?;
            }
        }
    }
    // Docker provides these per container.
    for f in ["etc/resolv.conf", "etc/hostname"] {
        let _ = std::fs::remove_file(rootfs.join(f));
    }
    Ok(())
}

/// Remove a debootstrap target, first making sure nothing is mounted in it
/// (a failed debootstrap can leave /proc or /sys mounted there, and
/// deleting through a mount would reach the real thing).
fn remove_rootfs(rootfs: &Path) -> Result<()> {
    if !rootfs.exists() {
        return Ok(());
    }
    for mount in mounts_under(rootfs).into_iter().rev() {
        let _ = Command::new("umount").arg("-l").arg(&mount).status();
    }
    let left = mounts_under(rootfs);
    if !left.is_empty() {
        return Err(Error::Failed(format!(
            "{} still has mounts ({}); unmount them and remove it by hand",
            rootfs.display(),
            left.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        )));
    }
    std::fs::remove_dir_all(rootfs).map_err(|e| Error::Failed(format!("cannot remove {}: {e}", rootfs.display())))
}

/// Mount points at or below `dir`, from /proc/self/mountinfo, shortest first.
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut found: Vec<PathBuf> = text
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .map(|p| PathBuf::from(p.replace("\\040", " ")))
        .filter(|p| p.starts_with(dir))
        .collect();
    found.sort_by_key(|p| p.components().count());
    found
}

/// The image `tag` built from `recipe` with `build_args`, unless an image
/// with that tag and the same fingerprint is already here.
pub fn ensure_image(
    docker: &Docker,
    progress: &Progress,
    recipe: &Recipe,
    tag: &str,
    build_args: &[(&str, &str)],
) -> Result<()> {
    let Some(from_id) = docker.image_id(recipe.from)? else {
        return Err(Error::Failed(format!("cannot build {tag}: its base image {} is missing", recipe.from)));
    };
    let fingerprint = recipe.fingerprint(build_args, &from_id);
    if docker.image_label(tag, RECIPE_LABEL)?.as_deref() == Some(fingerprint.as_str()) {
        return Ok(());
    }
    progress.phase(&format!("image {tag}: docker build lab/images/{}", recipe.name));
    let context = tempfile::Builder::new()
        .prefix("push-lab-build.")
        .tempdir()
        .map_err(|e| Error::Failed(format!("cannot create a build folder: {e}")))?;
    recipe.write_context(context.path()).map_err(|e| Error::Failed(format!("cannot write the build context: {e}")))?;
    let mut args: Vec<String> = vec![
        "build".into(),
        "--force-rm".into(),
        "--label".into(),
        format!("{RECIPE_LABEL}={fingerprint}"),
        "--tag".into(),
        tag.into(),
    ];
    for (k, v) in build_args {
        args.push("--build-arg".into());
        args.push(format!("{k}={v}"));
    }
    args.push(context.path().display().to_string());
    let mut tail = Vec::new();
    let result = docker.stream(&args, &|l| progress.detail(l), &mut tail);
    if let Err(e) = result {
        progress.tail(&tail);
        return Err(Error::Failed(format!("building {tag} failed: {e}")));
    }
    progress.done(&format!("built {tag}"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debootstrap_command() {
        assert_eq!(
            debootstrap_args(Path::new("/c/rootfs.1")).join(" "),
            "--variant=minbase bookworm /c/rootfs.1 http://deb.debian.org/debian"
        );
    }

    #[test]
    fn cache_dir_from_environment() {
        // Only reads; the variables are whatever the test process has.
        assert!(cache_dir().is_absolute() || std::env::var_os("PUSH_LAB_CACHE").is_some());
    }

    #[test]
    fn build_lock_is_exclusive_and_released() {
        let dir = tempfile::tempdir().unwrap();
        let progress = Progress::hidden();
        let lock = BuildLock::acquire(dir.path(), &progress).unwrap();
        assert!(dir.path().join("build.lock/pid").is_file());
        drop(lock);
        assert!(!dir.path().join("build.lock").exists());
        // A lock left by a dead process is taken over.
        std::fs::create_dir(dir.path().join("build.lock")).unwrap();
        std::fs::write(dir.path().join("build.lock/pid"), "4294967").unwrap();
        let _lock = BuildLock::acquire(dir.path(), &progress).unwrap();
    }

    #[test]
    fn nothing_is_mounted_in_a_fresh_folder() {
        let dir = tempfile::tempdir().unwrap();
        assert!(mounts_under(dir.path()).is_empty());
        assert!(!mounts_under(Path::new("/")).is_empty());
    }
}
