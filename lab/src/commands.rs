//! `push lab up | down | status | images`: one function each, returning
//! the text for stdout; progress goes to stderr. See the [crate documentation](crate).
//!
//! Exit codes (through [`Error`]): 5 for a bad option value (`--hosts 0`,
//! a bad `--name`, an unknown image), 4 when the machine is not ready or
//! the name is taken (Docker missing or not running, debootstrap missing,
//! a container or network of that name that is not this lab's, `images`
//! before `up`, `up` with or without `--prepared` or `--bastion` on a lab
//! made the other way), 1 when a tool failed or a host did not boot. Each message
//! is one line starting with `error:`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use crate::base_image::{self, BuildLock};
use crate::bastion::{self, Bastion};
use crate::docker::{Container, Docker};
use crate::hosts::{self, Runtime};
use crate::images;
use crate::inotify;
use crate::inventory_files::{self, HostEntry, LabFiles};
use crate::progress::{seconds, Progress};
use crate::recipes::BASTION_IMAGE;
use crate::recipes::{self, HOST_IMAGE, PREPARED_IMAGE};
use crate::registry::{self, Registry};
use crate::{
    self as labmod, prereqs, LabName, BASTION_LABEL, INDEX_LABEL, INVENTORY_LABEL, LABEL, PREPARED_LABEL, ROLE_LABEL,
};
use push_engine::diagnostic::Diagnostic;

use push_engine::ops::Error;

impl From<labmod::Error> for Error {
    fn from(e: labmod::Error) -> Error {
        match e {
            labmod::Error::Usage(m) => Error::Usage(format!("error: {m}")),
            labmod::Error::Setup(m) => Error::Input(Diagnostic::new(m)),
            labmod::Error::Failed(m) => Error::Io(std::io::Error::other(format!("error: {m}"))),
        }
    }
}

type Result<T> = std::result::Result<T, Error>;

/// How many hosts are waited for and set up at once.
const PARALLEL_HOSTS: usize = 8;

pub struct LabUp {
    pub name: String,
    pub hosts: u32,
    /// Default: `inventories/NAME`.
    pub inventory: Option<PathBuf>,
    /// Boot hosts with Docker already installed.
    pub prepared: bool,
    /// Hosts on a private network behind a bastion, root login off, `admin`
    /// with sudo's password (see [`crate::bastion`]).
    pub bastion: bool,
}

pub struct LabDown {
    pub name: String,
    pub inventory: Option<PathBuf>,
}

pub struct LabStatus {
    pub name: String,
}

pub struct LabImages {
    pub name: String,
    /// Repositories to build (`web`, `mail`, `webmail`); empty: all.
    pub only: Vec<String>,
}

fn inventory_files(lab: &LabName, dir: Option<&PathBuf>) -> LabFiles {
    LabFiles::new(&dir.cloned().unwrap_or_else(|| lab.default_inventory_dir()))
}

/// The lab's host containers by number.
fn lab_hosts(docker: &Docker, lab: &LabName) -> Result<BTreeMap<u32, Container>> {
    Ok(docker
        .containers_labeled(LABEL, lab.as_str())?
        .into_iter()
        .filter(|c| c.label(ROLE_LABEL) == Some("host"))
        .filter_map(|c| Some((c.label(INDEX_LABEL)?.parse::<u32>().ok()?, c)))
        .collect())
}

/// A container or network with one of our names that is not this lab's.
fn check_names_free(docker: &Docker, lab: &LabName, count: u32) -> Result<()> {
    let names = (1..=count).map(|i| lab.host(i)).chain([lab.registry_container(), lab.bastion_container()]);
    for name in names {
        if let Some(c) = docker.container(&name)? {
            if c.label(LABEL) != Some(lab.as_str()) {
                return Err(labmod::Error::Setup(format!(
                    "a container named `{name}` exists and is not part of lab `{lab}` (no {LABEL}={lab} label): remove it or choose another --name"
                ))
                .into());
            }
        }
    }
    for network in [lab.network(), lab.private_network()] {
        if let Some(n) = docker.network(&network)? {
            if n.labels.get(LABEL).map(String::as_str) != Some(lab.as_str()) {
                return Err(labmod::Error::Setup(format!(
                    "a network named `{network}` exists and is not part of lab `{lab}` (no {LABEL}={lab} label): remove it or choose another --name"
                ))
                .into());
            }
        }
    }
    Ok(())
}

pub fn up(cmd: LabUp, progress: &Progress) -> Result<String> {
    let started = Instant::now();
    let lab = LabName::parse(&cmd.name)?;
    let wanted = labmod::check_host_count(cmd.hosts)?;
    let files = inventory_files(&lab, cmd.inventory.as_ref());
    prereqs::require_docker()?;
    prereqs::require_ssh_keygen()?;
    let docker = Docker::default();

    let existing = lab_hosts(&docker, &lab)?;
    let count = existing.keys().copied().max().unwrap_or(0).max(wanted);
    check_names_free(&docker, &lab, count)?;
    if let Some(c) = existing.values().find(|c| (c.label(PREPARED_LABEL) == Some("1")) != cmd.prepared) {
        let (was, flag) = if cmd.prepared { ("without", "--prepared") } else { ("with", "no --prepared") };
        return Err(labmod::Error::Setup(format!(
            "lab `{lab}` was made {was} --prepared (host {}); `push lab down --name {lab}` first to change to {flag}",
            c.name
        ))
        .into());
    }

    if let Some(n) = docker.network(&lab.network())? {
        let had_bastion = n.labels.get(BASTION_LABEL).map(String::as_str) == Some("1");
        if had_bastion != cmd.bastion {
            let (was, flag) = if cmd.bastion { ("without", "--bastion") } else { ("with", "no --bastion") };
            return Err(labmod::Error::Setup(format!(
                "lab `{lab}` was made {was} --bastion; `push lab down --name {lab}` first to change to {flag}"
            ))
            .into());
        }
    }

    // Before anything boots: room for every host's systemd (see inotify).
    let booting: Vec<u32> = (1..=count).filter(|i| !existing.get(i).is_some_and(Container::is_running)).collect();
    if let Some(limit) = inotify::limit() {
        let running = docker.containers_labeled(ROLE_LABEL, "host")?.iter().filter(|c| c.is_running()).count();
        inotify::check(limit, running, booting.len())?;
    }

    let mut needed = vec![(&recipes::HOST, HOST_IMAGE), (&recipes::REGISTRY, recipes::REGISTRY_IMAGE)];
    if cmd.prepared {
        needed.push((&recipes::PREPARED_HOST, PREPARED_IMAGE));
    }
    if cmd.bastion {
        needed.push((&recipes::BASTION, BASTION_IMAGE));
    }
    build_images(&docker, progress, &needed)?;

    let mut create = vec![
        "network".to_string(),
        "create".into(),
        "--label".into(),
        format!("{LABEL}={lab}"),
        "--label".into(),
        format!("{INVENTORY_LABEL}={}", files.dir.display()),
    ];
    if cmd.bastion {
        create.extend(["--label".into(), format!("{BASTION_LABEL}=1")]);
    }
    create.push(lab.network());
    let network = ensure_network(&docker, &lab.network(), &create)?;
    let gateway = network
        .gateway
        .clone()
        .ok_or_else(|| labmod::Error::Failed(format!("network {} has no gateway address", network.name)))?;
    // The network the hosts are on, and its gateway (this machine).
    let (host_network, host_gateway) = if cmd.bastion {
        let private = ensure_network(&docker, &lab.private_network(), &bastion::private_network_args(&lab))?;
        let gateway = private
            .gateway
            .clone()
            .ok_or_else(|| labmod::Error::Failed(format!("network {} has no gateway address", private.name)))?;
        (private, gateway)
    } else {
        (network.clone(), gateway.clone())
    };

    progress.phase(&format!("registry {}", lab.registry_container()));
    let mut registry = registry::ensure(&docker, &lab, &gateway)?;
    if cmd.bastion {
        // Behind the bastion, the registry's own address: see crate::bastion.
        registry.address = registry::container_address(&docker, &lab)?;
    }
    progress.done(&format!("registry at {}", registry.address));

    let public_key = inventory_files::ensure_client_key(&lab, &files)?;
    let access = if cmd.bastion {
        progress.phase(&format!("bastion {}", lab.bastion_container()));
        let subnet = host_network
            .subnet
            .clone()
            .ok_or_else(|| labmod::Error::Failed(format!("network {} has no subnet", host_network.name)))?;
        let bastion = bastion::ensure(&docker, &lab, &gateway, &subnet, &public_key)?;
        progress.done(&format!("bastion at {}", bastion.entry.address));
        let password = inventory_files::ensure_become_vault(&lab, &files)?;
        Access::BehindBastion { bastion, gateway: host_gateway, password }
    } else {
        Access::Root
    };

    let image = if cmd.prepared { PREPARED_IMAGE } else { HOST_IMAGE };
    let runtime = Runtime::detect();
    let new = (1..=count).filter(|i| !existing.contains_key(i)).count();
    progress.phase(&match new {
        0 => format!("checking {count} hosts"),
        n => format!("booting {n} new host(s), {count} in all"),
    });
    for index in 1..=count {
        match existing.get(&index) {
            Some(c) if c.is_running() => {}
            Some(c) => {
                docker.output(["start", c.name.as_str()])?;
            }
            None => {
                docker.output(hosts::run_args(&lab, index, &host_network.name, image, cmd.prepared, &runtime))?;
            }
        }
    }
    let names: Vec<String> = (1..=count).map(|i| lab.host(i)).collect();
    let entry = |name: &String| host_entry(&docker, name, &host_network.name, &public_key, &access);
    let results = for_each_parallel(&names, |name| -> labmod::Result<HostEntry> {
        hosts::wait_running(&docker, name, hosts::BOOT_TIMEOUT)?;
        entry(name)
    });
    let mut booted = BTreeMap::new();
    let mut failed = Vec::new();
    for (index, result) in (1..=count).zip(results) {
        match result {
            Ok(e) => {
                booted.insert(index, e);
            }
            Err(e) => failed.push((index, e)),
        }
    }
    if let Some((_, first)) = failed.first() {
        let failed: Vec<u32> = failed.iter().map(|(i, _)| *i).collect();
        let removed = keep_what_runs(&docker, &lab, &existing, &mut booted, &failed, entry)?;
        let entries: Vec<HostEntry> = booted.into_values().collect();
        inventory_files::write_all(&lab, &files, &entries, &registry.address, access.bastion())?;
        let mut why = first.to_string();
        if !removed.is_empty() {
            let _ = write!(why, "; removed the host(s) this `up` created, which did not boot: {}", removed.join(", "));
        }
        let _ = write!(why, "; {} lists the {} host(s) that run", files.hosts_yml().display(), entries.len());
        return Err(labmod::Error::Failed(why).into());
    }
    let entries: Vec<HostEntry> = booted.into_values().collect();
    progress.done(&format!("{count} host(s) running (systemd: running)"));

    inventory_files::write_all(&lab, &files, &entries, &registry.address, access.bastion())?;
    progress.finish();

    let mut out = format!(
        "lab `{lab}` is up in {}: {count} host(s), registry {}\n",
        seconds(started.elapsed()),
        registry.address
    );
    if let Access::BehindBastion { bastion, .. } = &access {
        let _ = writeln!(
            out,
            "  {:<24} {}  (the hosts' only way in: ssh as admin, sudo with a password)",
            bastion.entry.name, bastion.entry.address
        );
    }
    if count > wanted {
        let _ = writeln!(out, "  (it already had {count} hosts; `up` never removes hosts, `down` removes them all)");
    }
    for e in &entries {
        let _ = writeln!(out, "  {:<24} {}", e.name, e.address);
    }
    let _ = writeln!(out, "inventory: {}", files.hosts_yml().display());
    match access {
        Access::Root => {
            let _ = writeln!(out, "  push run PLAYBOOK -i {}", files.dir.display());
        }
        Access::BehindBastion { .. } => {
            let _ = writeln!(
                out,
                "  push run PLAYBOOK -i {} --vault-password-file {}",
                files.dir.display(),
                files.vault_password().display()
            );
        }
    }
    let _ = writeln!(out, "  ssh -F {} {}", files.ssh_config().display(), lab.host(1));
    Ok(out)
}

/// How the hosts are logged into.
enum Access {
    /// As root, with the lab's key.
    Root,
    /// Through the bastion, as admin, sudo with `password`; `gateway` is
    /// this machine's address on the private network.
    BehindBastion { bastion: Bastion, gateway: String, password: String },
}

impl Access {
    fn bastion(&self) -> Option<&Bastion> {
        match self {
            Access::Root => None,
            Access::BehindBastion { bastion, .. } => Some(bastion),
        }
    }
}

/// A network of the lab: `create` makes it when it is missing.
fn ensure_network(docker: &Docker, name: &str, create: &[String]) -> labmod::Result<crate::docker::Network> {
    if let Some(n) = docker.network(name)? {
        return Ok(n);
    }
    docker.output(create)?;
    docker
        .network(name)?
        .ok_or_else(|| labmod::Error::Failed(format!("network {name} vanished right after it was created")))
}

/// A running host's inventory entry: the lab's key authorized (root's, or
/// admin's behind a bastion), its host keys and its address on `network`.
fn host_entry(
    docker: &Docker,
    name: &str,
    network: &str,
    public_key: &str,
    access: &Access,
) -> labmod::Result<HostEntry> {
    match access {
        Access::Root => hosts::authorize_key(docker, name, public_key)?,
        Access::BehindBastion { bastion, gateway, password } => {
            bastion::setup_host(docker, name, public_key, bastion, gateway, password)?
        }
    }
    let host_keys = hosts::host_keys(docker, name)?;
    let c = docker.container(name)?.ok_or_else(|| labmod::Error::Failed(format!("host {name} vanished")))?;
    let address = c
        .addresses
        .get(network)
        .cloned()
        .ok_or_else(|| labmod::Error::Failed(format!("host {name} has no address on {network}")))?;
    Ok(HostEntry { name: name.to_string(), address, host_keys })
}

/// Some hosts did not boot: make `booted` the hosts that run. Those this
/// `up` created are removed (no inventory listed them before); those that
/// existed stay, and are listed as long as they can be reached. Returns
/// the names of the removed hosts.
fn keep_what_runs(
    docker: &Docker,
    lab: &LabName,
    existing: &BTreeMap<u32, Container>,
    booted: &mut BTreeMap<u32, HostEntry>,
    failed: &[u32],
    entry: impl Fn(&String) -> labmod::Result<HostEntry>,
) -> labmod::Result<Vec<String>> {
    let (created, existed) = split_failed(failed, existing);
    for i in existed {
        if let Ok(e) = entry(&lab.host(i)) {
            booted.insert(i, e);
        }
    }
    let removed: Vec<String> = created.iter().map(|i| lab.host(*i)).collect();
    if !removed.is_empty() {
        let mut args = vec!["rm".to_string(), "--force".into(), "--volumes".into()];
        args.extend(removed.iter().cloned());
        docker.output(&args)?;
    }
    Ok(removed)
}

/// Of the hosts that did not boot: (those this `up` created, those that
/// existed before it, started or not).
fn split_failed(failed: &[u32], existing: &BTreeMap<u32, Container>) -> (Vec<u32>, Vec<u32>) {
    failed.iter().partition(|i| !existing.contains_key(i))
}

/// `f` on every item, at most [`PARALLEL_HOSTS`] at once (each `docker
/// exec` costs CPU on a small machine); results in the items' order.
fn for_each_parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<R>>> = items.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..PARALLEL_HOSTS.min(items.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                *results[i].lock().expect("result slot") = Some(f(item));
            });
        }
    });
    results.into_iter().map(|r| r.into_inner().expect("result slot").expect("every item ran")).collect()
}

/// The base image and `needed` (in order: each may build on the one
/// before). The build lock is taken only when something is missing, so a
/// lab whose images are all here never waits for another lab's build.
fn build_images(docker: &Docker, progress: &Progress, needed: &[(&recipes::Recipe, &str)]) -> Result<()> {
    if base_image::minbase_is_current(docker)? && base_image::images_are_current(docker, needed)? {
        return Ok(());
    }
    let _lock = BuildLock::acquire(&base_image::cache_dir(), progress)?;
    base_image::ensure_minbase(docker, progress)?;
    for (recipe, tag) in needed {
        base_image::ensure_image(docker, progress, recipe, tag, &[])?;
    }
    Ok(())
}

pub fn down(cmd: LabDown) -> Result<String> {
    let lab = LabName::parse(&cmd.name)?;
    let files = inventory_files(&lab, cmd.inventory.as_ref());
    prereqs::require_docker()?;
    let docker = Docker::default();

    let containers = docker.containers_labeled(LABEL, lab.as_str())?;
    let networks = docker.networks_labeled(LABEL, lab.as_str())?;
    // Where `up` wrote the files, in case this `down` runs from elsewhere.
    let mut dirs = vec![files.clone()];
    for n in &networks {
        if let Some(dir) = docker.network(n)?.and_then(|n| n.labels.get(INVENTORY_LABEL).cloned()) {
            let other = LabFiles::new(std::path::Path::new(&dir));
            if !dirs.contains(&other) {
                dirs.push(other);
            }
        }
    }
    let mut out = String::new();
    if !containers.is_empty() {
        let mut args = vec!["rm".to_string(), "--force".into(), "--volumes".into()];
        args.extend(containers.iter().map(|c| c.name.clone()));
        docker.output(&args)?;
        let count = |role: &str| containers.iter().filter(|c| c.label(ROLE_LABEL) == Some(role)).count();
        let mut others = Vec::new();
        if count("registry") > 0 {
            others.push("the registry");
        }
        if count("bastion") > 0 {
            others.push("the bastion");
        }
        let others = match others.as_slice() {
            [] => String::new(),
            [one] => format!(" and {one}"),
            [first, second] => format!(", {first} and {second}"),
            _ => unreachable!("two kinds of other containers"),
        };
        let _ = writeln!(out, "removed {} host(s){others}", count("host"));
    }
    for n in &networks {
        docker.output(["network", "rm", n.as_str()])?;
        let _ = writeln!(out, "removed network {n}");
    }
    let volumes = docker.volumes_labeled(LABEL, lab.as_str())?;
    if !volumes.is_empty() {
        let mut args = vec!["volume".to_string(), "rm".into()];
        args.extend(volumes.iter().cloned());
        docker.output(&args)?;
        let _ = writeln!(out, "removed volume(s) {}", volumes.join(", "));
    }
    for f in &dirs {
        let removed = inventory_files::remove_all(&lab, f)?;
        if !removed.is_empty() {
            let _ = writeln!(out, "removed the lab files in {}", f.dir.display());
        }
    }
    if out.is_empty() {
        out = format!("lab `{lab}`: nothing to remove\n");
    } else {
        out.insert_str(0, &format!("lab `{lab}` is down:\n"));
    }
    Ok(out)
}

pub fn status(cmd: LabStatus) -> Result<String> {
    let lab = LabName::parse(&cmd.name)?;
    prereqs::require_docker()?;
    let docker = Docker::default();
    let containers = docker.containers_labeled(LABEL, lab.as_str())?;
    let network =
        docker.network(&lab.network())?.filter(|n| n.labels.get(LABEL).map(String::as_str) == Some(lab.as_str()));
    if containers.is_empty() && network.is_none() {
        return Ok(format!("no lab `{lab}` on this machine (start one with `push lab up --name {lab}`)\n"));
    }
    let net_name = lab.network();
    let with_bastion = network.as_ref().is_some_and(|n| n.labels.get(BASTION_LABEL).map(String::as_str) == Some("1"));
    let private = if with_bastion { docker.network(&lab.private_network())? } else { None };
    let host_net = if with_bastion { lab.private_network() } else { net_name.clone() };
    let mut rows = vec![["NAME".to_string(), "ADDRESS".into(), "STATE".into()]];
    let mut sorted = containers.clone();
    let role_order = |c: &Container| match c.label(ROLE_LABEL) {
        Some("host") => 0,
        Some("bastion") => 1,
        _ => 2,
    };
    sorted.sort_by_key(|c| (role_order(c), c.label(INDEX_LABEL).and_then(|i| i.parse::<u32>().ok())));
    for c in &sorted {
        let is_host = c.label(ROLE_LABEL) == Some("host");
        let address = match (c.label(ROLE_LABEL), &network) {
            (Some("host"), _) => c.addresses.get(&host_net).cloned().unwrap_or_else(|| "-".into()),
            (Some("bastion"), _) => c.addresses.get(&net_name).cloned().unwrap_or_else(|| "-".into()),
            (_, Some(_)) if with_bastion => {
                c.addresses.get(&net_name).map(|a| format!("{a}:{}", registry::PORT)).unwrap_or_else(|| "-".into())
            }
            (_, Some(n)) => n.gateway.as_ref().map(|g| format!("{g}:{}", registry::PORT)).unwrap_or_else(|| "-".into()),
            (_, None) => "-".into(),
        };
        let state = if c.label(ROLE_LABEL) == Some("bastion") && c.is_running() {
            let inside = c.addresses.get(&host_net).map(|a| format!(", {a} on {host_net}")).unwrap_or_default();
            format!("running (jump host and NAT gateway{inside})")
        } else if is_host && c.is_running() {
            let (_, system, _) = docker.exec_status(&c.name, &["systemctl", "is-system-running"])?;
            format!("running (systemd: {})", if system.is_empty() { "?" } else { &system })
        } else {
            c.state.clone()
        };
        rows.push([c.name.clone(), address, state]);
    }
    let width = |col: usize| rows.iter().map(|r| r[col].len()).max().unwrap_or(0);
    let (w0, w1) = (width(0), width(1));
    let subnet = |n: Option<&crate::docker::Network>| {
        n.and_then(|n| n.subnet.as_ref()).map(|s| format!(" ({s})")).unwrap_or_default()
    };
    let mut out = format!("lab `{lab}`: network {net_name}{}", subnet(network.as_ref()));
    if with_bastion {
        let _ = write!(out, "; hosts on {host_net}{}, behind {}", subnet(private.as_ref()), lab.bastion_container());
    }
    out.push('\n');
    for r in rows {
        let _ = writeln!(out, "{:<w0$}  {:<w1$}  {}", r[0], r[1], r[2]);
    }
    Ok(out)
}

pub fn images(cmd: LabImages, progress: &Progress) -> Result<String> {
    let started = Instant::now();
    let lab = LabName::parse(&cmd.name)?;
    let selected = images::select(&cmd.only)?;
    prereqs::require_docker()?;
    let docker = Docker::default();
    let not_up = || labmod::Error::Setup(format!("lab `{lab}` is not up: run `push lab up --name {lab}` first"));
    let network = docker
        .network(&lab.network())?
        .filter(|n| n.labels.get(LABEL).map(String::as_str) == Some(lab.as_str()))
        .ok_or_else(not_up)?;
    let gateway = network.gateway.clone().ok_or_else(not_up)?;
    let mut registry: Registry = registry::running(&docker, &lab, &gateway)?.ok_or_else(not_up)?;
    if network.labels.get(BASTION_LABEL).map(String::as_str) == Some("1") {
        registry.address = registry::container_address(&docker, &lab)?;
    }

    {
        let _lock = BuildLock::acquire(&base_image::cache_dir(), progress)?;
        base_image::ensure_minbase(&docker, progress)?;
        for image in &selected {
            images::build(&docker, progress, image)?;
        }
    }
    let mut out = format!("lab `{lab}` registry {}:\n", registry.address);
    for image in &selected {
        let reference = images::push(&docker, progress, image, &registry)?;
        let _ = writeln!(out, "  {reference:<36} {}", image.about);
    }
    progress.finish();
    let catalog = registry::catalog(&registry.local_address)?;
    let _ = writeln!(out, "catalog: {} ({})", catalog.join(", "), seconds(started.elapsed()));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_results_keep_their_order() {
        let items: Vec<u32> = (0..20).collect();
        let doubled = for_each_parallel(&items, |i| {
            std::thread::sleep(std::time::Duration::from_millis(u64::from(20 - i)));
            i * 2
        });
        assert_eq!(doubled, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        assert!(for_each_parallel(&Vec::<u32>::new(), |i| *i).is_empty());
    }

    /// A boot that failed for hosts 2 and 4 of a lab that had hosts 1 and 2:
    /// host 4 is new (removed), host 2 was there (kept, listed).
    #[test]
    fn failed_hosts_this_up_created_are_the_ones_removed() {
        let host = |i: u32| Container {
            name: format!("lab-{i}"),
            labels: BTreeMap::new(),
            state: "running".into(),
            addresses: BTreeMap::new(),
            image: String::new(),
        };
        let existing = BTreeMap::from([(1, host(1)), (2, host(2))]);
        assert_eq!(split_failed(&[2, 4], &existing), (vec![4], vec![2]));
        assert_eq!(split_failed(&[], &existing), (vec![], vec![]));
    }

    #[test]
    fn lab_errors_map_to_exit_codes_and_one_line() {
        let usage: Error = labmod::Error::Usage("bad".into()).into();
        assert_eq!((usage.exit_code(), usage.to_string()), (5, "error: bad".to_string()));
        let setup: Error = labmod::Error::Setup("no docker".into()).into();
        assert_eq!((setup.exit_code(), setup.to_string().trim_end()), (4, "error: no docker"));
        let failed: Error = labmod::Error::Failed("boom".into()).into();
        assert_eq!((failed.exit_code(), failed.to_string()), (1, "error: boom".to_string()));
    }
}
