//! A lab with a bastion (`push lab up --bastion`): production's shape.
//!
//! ```text
//! this machine ──ssh──> NAME-bastion ──ssh──> NAME-1, NAME-2 ...
//!   push-lab-NAME          (both)        push-lab-NAME-private
//! ```
//!
//! The hosts sit on a network of their own, `push-lab-NAME-private`. Docker
//! gives this machine an address there too (the network's gateway); each
//! host drops everything addressed to it (a blackhole route), so a host
//! answers nothing this machine sends it directly. (Docker's
//! `inhibit_ipv4` would take the address away instead, but then this
//! machine sends packets for the private addresses to its default route,
//! out of the machine.)
//!
//! The bastion is on both networks: the jump host (sshd, user `admin` with
//! the lab's key, no root login) and the private network's NAT gateway, so
//! the hosts still reach Debian's mirrors, the DNS Docker gives them, and
//! the lab registry (at the registry container's own address: this
//! machine's address on the lab network would be rewritten by Docker's
//! port mapping on the way and answer past the bastion).
//!
//! On the hosts root cannot log in; `admin` logs in with the lab's key and
//! sudo asks for its password (kept in the inventory folder, vaulted: see
//! [`crate::inventory_files::ensure_become_vault`]).

use std::time::{Duration, Instant};

use crate::docker::Docker;
use crate::inventory_files::HostEntry;
use crate::recipes::BASTION_IMAGE;
use crate::{Error, LabName, Result, LABEL, ROLE_LABEL};

/// The login on the bastion and on the hosts behind it.
pub const ADMIN: &str = "admin";

/// The bastion as the inventory files describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bastion {
    /// Its name, address on the lab network (what this machine connects
    /// to) and host keys.
    pub entry: HostEntry,
    /// Its address on the private network: the hosts' default gateway.
    pub private_address: String,
}

/// `docker network create` arguments for the hosts' network. No NAT by
/// this machine: the hosts go out through the bastion only.
pub fn private_network_args(lab: &LabName) -> Vec<String> {
    vec![
        "network".into(),
        "create".into(),
        "--label".into(),
        format!("{LABEL}={lab}"),
        "--opt".into(),
        "com.docker.network.bridge.enable_ip_masquerade=false".into(),
        lab.private_network(),
    ]
}

/// `docker run` arguments for the bastion, on the lab network (it joins the
/// private one with `docker network connect`). NET_ADMIN and forwarding for
/// its NAT; tini reaps what sshd leaves.
pub fn run_args(lab: &LabName) -> Vec<String> {
    let name = lab.bastion_container();
    vec![
        "run".into(),
        "--detach".into(),
        "--name".into(),
        name.clone(),
        "--hostname".into(),
        name,
        "--network".into(),
        lab.network(),
        "--label".into(),
        format!("{LABEL}={lab}"),
        "--label".into(),
        format!("{ROLE_LABEL}=bastion"),
        "--cap-add".into(),
        "NET_ADMIN".into(),
        "--sysctl".into(),
        "net.ipv4.ip_forward=1".into(),
        BASTION_IMAGE.into(),
    ]
}

/// Run on the bastion at every `up` (all of it idempotent): `sh -c SCRIPT
/// sh LAB_GATEWAY PRIVATE_SUBNET PUBLIC_KEY`.
const BASTION_SETUP: &str = r#"set -eu
gateway=$1 subnet=$2 key=$3
# Docker may route the bastion out through either network: the lab
# network's gateway is the way out.
ip route replace default via "$gateway"
# Masquerade what the hosts send out; let nothing from outside open a
# connection into the private network through here.
iptables -t nat -C POSTROUTING -s "$subnet" ! -d "$subnet" -j MASQUERADE 2>/dev/null \
  || iptables -t nat -A POSTROUTING -s "$subnet" ! -d "$subnet" -j MASQUERADE
iptables -C FORWARD -d "$subnet" -m conntrack --ctstate NEW -j DROP 2>/dev/null \
  || iptables -A FORWARD -d "$subnet" -m conntrack --ctstate NEW -j DROP
umask 077
printf '%s\n' "$key" > /home/admin/.ssh/authorized_keys.new
chown admin:admin /home/admin/.ssh/authorized_keys.new
mv -f /home/admin/.ssh/authorized_keys.new /home/admin/.ssh/authorized_keys
"#;

/// Run on each host behind the bastion at every `up`: `sh -c SCRIPT sh
/// PUBLIC_KEY BASTION_PRIVATE_ADDRESS GATEWAY`, the sudo password on
/// stdin. Changes nothing when all is in place already (the password is
/// set only when it differs).
const HOST_SETUP: &str = r#"set -eu
key=$1 via=$2 gateway=$3
IFS= read -r password
unit=/etc/systemd/system/lab-private-routes.service
cat > "$unit.new" <<EOF
# push lab --bastion: out through the bastion; this machine's own address on
# the network (Docker's gateway) gets no answer.
[Unit]
Description=push lab: default route through the bastion
DefaultDependencies=no
Before=network.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=ip route replace default via $via
ExecStart=ip route replace blackhole $gateway/32

[Install]
WantedBy=multi-user.target
EOF
if cmp -s "$unit.new" "$unit"; then rm -f "$unit.new"; else mv -f "$unit.new" "$unit"; systemctl daemon-reload; fi
systemctl enable --quiet lab-private-routes.service
systemctl restart lab-private-routes.service

id -u admin >/dev/null 2>&1 || useradd --create-home --shell /bin/bash --groups sudo admin
install -d -m 700 -o admin -g admin /home/admin/.ssh
umask 077
printf '%s\n' "$key" > /home/admin/.ssh/authorized_keys.new
chown admin:admin /home/admin/.ssh/authorized_keys.new
mv -f /home/admin/.ssh/authorized_keys.new /home/admin/.ssh/authorized_keys
: > /root/.ssh/authorized_keys
hash=$(getent shadow admin | cut -d: -f2)
if ! printf '%s' "$password" | HASH="$hash" perl -e 'my $p = <STDIN>; exit(crypt($p, $ENV{HASH}) eq $ENV{HASH} ? 0 : 1)'; then
  printf 'admin:%s\n' "$password" | chpasswd
fi

conf=/etc/ssh/sshd_config.d/00-behind-bastion.conf
printf '%s\n' '# push lab --bastion: root never logs in over ssh; admin uses sudo.' 'PermitRootLogin no' > "$conf.new"
if cmp -s "$conf.new" "$conf"; then rm -f "$conf.new"; else mv -f "$conf.new" "$conf"; systemctl reload ssh; fi
"#;

/// Start the bastion if needed, join it to the private network, set up its
/// routing, NAT and `admin`'s key; return it as the inventory describes it.
pub fn ensure(
    docker: &Docker,
    lab: &LabName,
    lab_gateway: &str,
    private_subnet: &str,
    public_key: &str,
) -> Result<Bastion> {
    let name = lab.bastion_container();
    match docker.container(&name)? {
        Some(c) if c.is_running() => {}
        Some(_) => {
            docker.output(["start", name.as_str()])?;
        }
        None => {
            docker.output(run_args(lab))?;
        }
    }
    let private = lab.private_network();
    let joined = docker.container(&name)?.is_some_and(|c| c.addresses.contains_key(&private));
    if !joined {
        docker.output(["network", "connect", private.as_str(), name.as_str()])?;
    }
    docker.exec(&name, &["sh", "-c", BASTION_SETUP, "sh", lab_gateway, private_subnet, public_key.trim()])?;
    let host_keys = wait_host_keys(docker, &name, Duration::from_secs(30))?;
    let c = docker.container(&name)?.ok_or_else(|| Error::Failed(format!("bastion {name} vanished")))?;
    let address = |network: &str| {
        c.addresses
            .get(network)
            .cloned()
            .ok_or_else(|| Error::Failed(format!("bastion {name} has no address on {network}")))
    };
    Ok(Bastion {
        entry: HostEntry { name: name.clone(), address: address(&lab.network())?, host_keys },
        private_address: address(&private)?,
    })
}

/// The bastion makes its host keys as it starts.
fn wait_host_keys(docker: &Docker, name: &str, timeout: Duration) -> Result<Vec<String>> {
    let deadline = Instant::now() + timeout;
    loop {
        match crate::hosts::host_keys(docker, name) {
            Ok(keys) => return Ok(keys),
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// Make host `name` a host behind the bastion: routes through it, root
/// without ssh login, `admin` with the lab's key and `password` for sudo.
/// The password goes on stdin only.
pub fn setup_host(
    docker: &Docker,
    name: &str,
    public_key: &str,
    bastion: &Bastion,
    private_gateway: &str,
    password: &str,
) -> Result<()> {
    docker
        .exec_with_stdin(
            name,
            &["sh", "-c", HOST_SETUP, "sh", public_key.trim(), &bastion.private_address, private_gateway],
            format!("{password}\n").as_bytes(),
        )
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_arguments() {
        let lab = LabName::parse("lab").unwrap();
        insta::assert_snapshot!(run_args(&lab).join(" "), @"run --detach --name lab-bastion --hostname lab-bastion --network push-lab-lab --label push.lab=lab --label push.lab.role=bastion --cap-add NET_ADMIN --sysctl net.ipv4.ip_forward=1 push-lab/bastion:12");
        insta::assert_snapshot!(private_network_args(&lab).join(" "), @"network create --label push.lab=lab --opt com.docker.network.bridge.enable_ip_masquerade=false push-lab-lab-private");
    }

    /// The scripts are valid `sh` and never take the password as an argument.
    #[test]
    fn setup_scripts_parse_and_read_the_password_from_stdin() {
        for script in [BASTION_SETUP, HOST_SETUP] {
            let out = std::process::Command::new("sh").args(["-n", "-c", script]).output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        }
        assert!(HOST_SETUP.contains("IFS= read -r password"));
        assert!(!HOST_SETUP.contains("$4"));
    }
}
