//! The image recipes under `lab/images/`, compiled into the binary so
//! `push lab` works from anywhere. Each is a `docker build` context: a
//! Dockerfile `FROM` a local image (no registry is reachable) plus the
//! files it copies.
//!
//! A recipe's [`Recipe::fingerprint`] (its files, build arguments and the
//! ID of the image it builds on) is stored as a label on the image it
//! builds, so a changed recipe or base is rebuilt and an unchanged one is
//! reused as is.

use sha2::{Digest, Sha256};

/// Label on every image `push lab` builds: the fingerprint of its recipe.
pub const RECIPE_LABEL: &str = "push.lab.recipe";

pub struct Recipe {
    /// The folder name under `lab/images/`.
    pub name: &'static str,
    /// `(path in the build context, text, unix mode)`.
    pub files: &'static [(&'static str, &'static str, u32)],
    /// The local image its Dockerfile starts `FROM`.
    pub from: &'static str,
}

macro_rules! file {
    ($dir:literal, $name:literal) => {
        ($name, include_str!(concat!("../images/", $dir, "/", $name)), 0o644)
    };
    ($dir:literal, $name:literal, exec) => {
        ($name, include_str!(concat!("../images/", $dir, "/", $name)), 0o755)
    };
}

/// Debian 12 minbase from debootstrap: the root of every lab image.
pub const MINBASE_IMAGE: &str = "push-lab/debian-minbase:12";
/// The lab hosts: systemd, sshd, sudo.
pub const HOST_IMAGE: &str = "push-lab/debian:12";
/// Lab hosts with Docker installed (`push lab up --prepared`).
pub const PREPARED_IMAGE: &str = "push-lab/debian-docker:12";
/// The jump host and NAT gateway of `push lab up --bastion`.
pub const BASTION_IMAGE: &str = "push-lab/bastion:12";
/// The lab registry (Debian's docker-registry).
pub const REGISTRY_IMAGE: &str = "push-lab/registry:2.8";

/// apt sources written into the minbase root filesystem.
pub const MINBASE_SOURCES_LIST: &str = include_str!("../images/minbase/sources.list");

pub const HOST: Recipe = Recipe {
    name: "host",
    files: &[file!("host", "Dockerfile"), file!("host", "sshd-lab.conf"), file!("host", "ssh-host-keys.service")],
    from: MINBASE_IMAGE,
};

pub const PREPARED_HOST: Recipe =
    Recipe { name: "host-docker", files: &[file!("host-docker", "Dockerfile")], from: HOST_IMAGE };

pub const BASTION: Recipe = Recipe {
    name: "bastion",
    files: &[
        file!("bastion", "Dockerfile"),
        file!("bastion", "sshd-bastion.conf"),
        file!("bastion", "bastion-entrypoint.sh", exec),
    ],
    from: MINBASE_IMAGE,
};

pub const REGISTRY: Recipe = Recipe {
    name: "registry",
    files: &[file!("registry", "Dockerfile"), file!("registry", "config.yml")],
    from: MINBASE_IMAGE,
};

pub const WEB: Recipe =
    Recipe { name: "web", files: &[file!("web", "Dockerfile"), file!("web", "index.html")], from: MINBASE_IMAGE };

pub const MAIL: Recipe = Recipe {
    name: "mail",
    files: &[file!("mail", "Dockerfile"), file!("mail", "dovecot-lab.conf"), file!("mail", "mail-entrypoint.sh", exec)],
    from: MINBASE_IMAGE,
};

pub const WEBMAIL: Recipe = Recipe {
    name: "webmail",
    files: &[
        file!("webmail", "Dockerfile"),
        file!("webmail", "debconf.txt"),
        file!("webmail", "roundcube-lab.conf"),
        file!("webmail", "config.inc.php"),
        file!("webmail", "webmail-entrypoint.sh", exec),
    ],
    from: MINBASE_IMAGE,
};

impl Recipe {
    /// What identifies one build: the recipe's files, the build arguments
    /// and the image it starts from.
    pub fn fingerprint(&self, build_args: &[(&str, &str)], from_id: &str) -> String {
        let mut h = Sha256::new();
        let mut feed = |s: &str| {
            h.update((s.len() as u64).to_le_bytes());
            h.update(s.as_bytes());
        };
        feed(self.name);
        feed(from_id);
        for (path, text, mode) in self.files {
            feed(path);
            feed(text);
            feed(&mode.to_string());
        }
        for (k, v) in build_args {
            feed(k);
            feed(v);
        }
        hex(&h.finalize()[..16])
    }

    /// Write the build context into `dir`.
    pub fn write_context(&self, dir: &std::path::Path) -> std::io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        for (path, text, mode) in self.files {
            let target = dir.join(path);
            std::fs::write(&target, text)?;
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(*mode))?;
        }
        Ok(())
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_recipe_has_a_dockerfile_from_its_base() {
        for r in [&HOST, &PREPARED_HOST, &BASTION, &REGISTRY, &WEB, &MAIL, &WEBMAIL] {
            let dockerfile = r.files.iter().find(|f| f.0 == "Dockerfile").map(|f| f.1).expect("Dockerfile");
            let from = format!("FROM {}", r.from);
            assert!(dockerfile.lines().any(|l| l.starts_with(&from)), "{}: first FROM must be {}", r.name, r.from);
            // Every file the Dockerfile copies is in the context.
            for line in dockerfile.lines().filter(|l| l.starts_with("COPY ") && !l.contains("--from")) {
                let src = line.split_whitespace().nth(1).unwrap();
                assert!(r.files.iter().any(|f| f.0 == src), "{}: COPY {src} is not in the recipe", r.name);
            }
        }
    }

    #[test]
    fn fingerprint_follows_files_args_and_base() {
        let a = WEB.fingerprint(&[("VERSION", "v1")], "sha256:1");
        assert_eq!(a, WEB.fingerprint(&[("VERSION", "v1")], "sha256:1"));
        assert_ne!(a, WEB.fingerprint(&[("VERSION", "v2")], "sha256:1"));
        assert_ne!(a, WEB.fingerprint(&[("VERSION", "v1")], "sha256:2"));
        assert_ne!(a, MAIL.fingerprint(&[("VERSION", "v1")], "sha256:1"));
        assert_eq!(a.len(), 32);
    }
}
