//! `push lab`: real Debian hosts on this machine, as Docker containers with
//! systemd as PID 1 and sshd on their own address, plus an image registry
//! on the lab's network.
//!
//! Everything is built locally from Debian's packages (no registry on the
//! internet is needed):
//!
//! ```text
//! debootstrap --variant=minbase bookworm   -> push-lab/debian-minbase:12  (rootfs tarball cached)
//!   docker build lab/images/host           -> push-lab/debian:12          (the lab hosts)
//!   docker build lab/images/host-docker    -> push-lab/debian-docker:12   (`up --prepared`)
//!   docker build lab/images/registry       -> push-lab/registry:2.8       (one per lab)
//!   docker build lab/images/bastion        -> push-lab/bastion:12         (`up --bastion`)
//!   docker build lab/images/{web,mail,webmail} -> pushed by `push lab images`
//! ```
//!
//! A lab's state lives in Docker labels only (`push.lab=NAME` on its
//! containers, network and volume), so `down` works when the inventory
//! folder is gone. The files in the inventory folder are rewritten from
//! what Docker reports on every `up`.
//!
//! The pieces, in the order `up` uses them: [`prereqs`] (what must be
//! installed), [`inotify`] (room for the hosts' systemd), [`recipes`] (the image recipes under `lab/images`, compiled
//! in), [`base_image`] (debootstrap and image builds), [`hosts`] (host
//! containers), [`registry`], [`bastion`] (the jump host of `up
//! --bastion`), [`inventory_files`] (hosts.yml, ssh_config,
//! known_hosts) and [`images`] (the example images).

pub mod base_image;
pub mod bastion;
pub mod commands;
pub mod docker;
pub mod hosts;
pub mod images;
pub mod inotify;
pub mod inventory_files;
pub mod prereqs;
pub mod progress;
pub mod recipes;
pub mod registry;

use std::fmt;
use std::path::PathBuf;

/// Label on everything a lab owns; its value is the lab's name.
pub const LABEL: &str = "push.lab";
/// Label saying what a container is: `host`, `registry` or `bastion`.
pub const ROLE_LABEL: &str = "push.lab.role";
/// Label with a host's number (1-based).
pub const INDEX_LABEL: &str = "push.lab.index";
/// Label on hosts booted from the prepared image (`--prepared`).
pub const PREPARED_LABEL: &str = "push.lab.prepared";
/// Label on the lab network: the inventory folder `up` last wrote, so
/// `down` can remove those files from anywhere.
pub const INVENTORY_LABEL: &str = "push.lab.inventory";
/// Label on the lab network of a lab made with `up --bastion`.
pub const BASTION_LABEL: &str = "push.lab.bastion";

pub const DEFAULT_NAME: &str = "lab";
pub const DEFAULT_HOSTS: u32 = 3;
/// More would not boot in reasonable time on a small machine, and each
/// host is a full systemd.
pub const MAX_HOSTS: u32 = 50;

/// Why `push lab` stopped. The CLI maps these to exit codes (see
/// [`Error::exit_code`]); every message is one line.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad option value (`--hosts 0`, a bad `--name`): exit 5, like any
    /// other command-line mistake.
    #[error("{0}")]
    Usage(String),
    /// The machine is not ready for a lab (Docker missing or not running,
    /// debootstrap missing), or the name is taken by something that is not
    /// this lab's, or the lab is not up: exit 4. Fix the machine, run again.
    #[error("{0}")]
    Setup(String),
    /// A tool we ran failed (docker, debootstrap, ssh-keygen), or a host did
    /// not boot in time: exit 1.
    #[error("{0}")]
    Failed(String),
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => 5,
            Error::Setup(_) => 4,
            Error::Failed(_) => 1,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// A lab's name: 1-20 characters from `a-z`, `0-9` and `-`, starting with a
/// letter or digit. It names the hosts (`NAME-1`...), the network
/// (`push-lab-NAME`) and the registry container (`NAME-registry`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabName(String);

impl LabName {
    pub fn parse(name: &str) -> Result<LabName> {
        let ok_chars = name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        let ok_start = name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if name.is_empty() || name.len() > 20 || !ok_chars || !ok_start {
            return Err(Error::Usage(format!(
                "invalid lab name {}: use 1-20 characters from a-z, 0-9 and `-`, starting with a letter or digit",
                quote_for_message(name)
            )));
        }
        Ok(LabName(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Host `index` (1-based): its container name, hostname and inventory name.
    pub fn host(&self, index: u32) -> String {
        format!("{}-{index}", self.0)
    }

    pub fn network(&self) -> String {
        format!("push-lab-{}", self.0)
    }

    pub fn registry_container(&self) -> String {
        format!("{}-registry", self.0)
    }

    /// The hosts' network in a lab with a bastion: this machine reaches
    /// it only through the bastion.
    pub fn private_network(&self) -> String {
        format!("push-lab-{}-private", self.0)
    }

    pub fn bastion_container(&self) -> String {
        format!("{}-bastion", self.0)
    }

    pub fn registry_volume(&self) -> String {
        format!("push-lab-{}-registry", self.0)
    }

    /// The inventory group: the name with `-` as `_`, since Ansible warns
    /// about `-` in group names.
    pub fn group(&self) -> String {
        self.0.replace('-', "_")
    }

    /// `inventories/NAME`, relative to the current folder.
    pub fn default_inventory_dir(&self) -> PathBuf {
        PathBuf::from("inventories").join(&self.0)
    }
}

impl fmt::Display for LabName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `--hosts N` within 1..=[`MAX_HOSTS`].
pub fn check_host_count(n: u32) -> Result<u32> {
    if n == 0 || n > MAX_HOSTS {
        return Err(Error::Usage(format!("--hosts must be between 1 and {MAX_HOSTS} (got {n})")));
    }
    Ok(n)
}

/// A user-given value in backticks, with control characters escaped so
/// the message stays on one line.
fn quote_for_message(s: &str) -> String {
    let escaped: String = s.chars().flat_map(char::escape_default).collect();
    format!("`{escaped}`")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_good_names() {
        for n in ["lab", "a", "lab-2", "0", "t-1234567890abcdefg"] {
            assert_eq!(LabName::parse(n).unwrap().as_str(), n);
        }
    }

    #[test]
    fn refuses_odd_names_in_one_line() {
        for n in ["", "Lab", "lab_1", "-lab", "lab.x", "lab 1", "a23456789012345678901", "läb", "lab\nx"] {
            let e = LabName::parse(n).unwrap_err();
            assert!(matches!(e, Error::Usage(_)), "{n:?}");
            assert!(!e.to_string().contains('\n'), "{e}");
            assert_eq!(e.exit_code(), 5);
        }
        insta::assert_snapshot!(LabName::parse("Bad_Name").unwrap_err(), @"invalid lab name `Bad_Name`: use 1-20 characters from a-z, 0-9 and `-`, starting with a letter or digit");
        insta::assert_snapshot!(LabName::parse("a\nb").unwrap_err(), @r"invalid lab name `a\nb`: use 1-20 characters from a-z, 0-9 and `-`, starting with a letter or digit");
    }

    #[test]
    fn derived_names() {
        let n = LabName::parse("my-lab").unwrap();
        assert_eq!(n.host(2), "my-lab-2");
        assert_eq!(n.network(), "push-lab-my-lab");
        assert_eq!(n.registry_container(), "my-lab-registry");
        assert_eq!(n.group(), "my_lab");
        assert_eq!(n.private_network(), "push-lab-my-lab-private");
        assert_eq!(n.bastion_container(), "my-lab-bastion");
        assert_eq!(n.default_inventory_dir(), PathBuf::from("inventories/my-lab"));
    }

    #[test]
    fn host_count_bounds() {
        assert_eq!(check_host_count(1).unwrap(), 1);
        assert_eq!(check_host_count(MAX_HOSTS).unwrap(), MAX_HOSTS);
        let e = check_host_count(0).unwrap_err();
        assert_eq!(e.to_string(), "--hosts must be between 1 and 50 (got 0)");
        assert_eq!(e.exit_code(), 5);
        assert!(check_host_count(51).is_err());
    }
}
