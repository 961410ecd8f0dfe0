//! The lab's image registry: a container of [`REGISTRY_IMAGE`] (Debian's
//! docker-registry) on the lab network, its storage in a labeled volume.
//!
//! A container rather than a `docker-registry` process on this machine:
//! nothing to daemonize, find or kill, and `down` removes it by label like
//! the rest of the lab.
//!
//! It is published twice:
//! * on the lab network's gateway, port 5000: the lab hosts pull from
//!   there (`lab_registry` in the inventory). Hosts are not configured to
//!   trust it: that is a playbook's job.
//! * on 127.0.0.1 at a port Docker picks: this machine's engine pushes
//!   there. Docker trusts plain-HTTP registries on 127.0.0.0/8 out of the
//!   box, so `push lab` never edits /etc/docker/daemon.json or signals
//!   dockerd on the user's machine.

use std::time::{Duration, Instant};

use crate::docker::Docker;
use crate::recipes::REGISTRY_IMAGE;
use crate::{Error, LabName, Result, LABEL, ROLE_LABEL};

pub const PORT: u16 = 5000;

/// Where the registry answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    /// `GATEWAY:5000`, for the lab hosts.
    pub address: String,
    /// `127.0.0.1:PORT`, for this machine's Docker engine.
    pub local_address: String,
}

/// `docker run` arguments for the registry of `lab`.
pub fn run_args(lab: &LabName, gateway: &str) -> Vec<String> {
    vec![
        "run".into(),
        "--detach".into(),
        "--name".into(),
        lab.registry_container(),
        "--network".into(),
        lab.network(),
        "--label".into(),
        format!("{LABEL}={lab}"),
        "--label".into(),
        format!("{ROLE_LABEL}=registry"),
        "--volume".into(),
        format!("{}:/var/lib/docker-registry", lab.registry_volume()),
        "--publish".into(),
        format!("{gateway}:{PORT}:{PORT}"),
        "--publish".into(),
        format!("127.0.0.1::{PORT}"),
        REGISTRY_IMAGE.into(),
    ]
}

/// Start the lab's registry if it is not running, and wait until it answers.
pub fn ensure(docker: &Docker, lab: &LabName, gateway: &str) -> Result<Registry> {
    let name = lab.registry_container();
    match docker.container(&name)? {
        Some(c) if c.is_running() => {}
        Some(_) => {
            docker.output(["start", name.as_str()])?;
        }
        None => {
            let volume = lab.registry_volume();
            if docker.volumes_labeled(LABEL, lab.as_str())?.iter().all(|v| *v != volume) {
                docker.output(["volume", "create", "--label", &format!("{LABEL}={lab}"), &volume])?;
            }
            docker.output(run_args(lab, gateway))?;
        }
    }
    let registry = Registry { address: format!("{gateway}:{PORT}"), local_address: local_address(docker, &name)? };
    wait_ready(&registry.local_address, Duration::from_secs(30))?;
    Ok(registry)
}

/// The lab's registry if its container is running (it is not started).
pub fn running(docker: &Docker, lab: &LabName, gateway: &str) -> Result<Option<Registry>> {
    let name = lab.registry_container();
    match docker.container(&name)? {
        Some(c) if c.is_running() && c.label(LABEL) == Some(lab.as_str()) => {
            let registry =
                Registry { address: format!("{gateway}:{PORT}"), local_address: local_address(docker, &name)? };
            wait_ready(&registry.local_address, Duration::from_secs(30))?;
            Ok(Some(registry))
        }
        _ => Ok(None),
    }
}

/// `ADDRESS:5000`: the registry container's own address on the lab
/// network (what hosts behind a bastion pull from).
pub fn container_address(docker: &Docker, lab: &LabName) -> Result<String> {
    let name = lab.registry_container();
    docker
        .container(&name)?
        .and_then(|c| c.addresses.get(&lab.network()).cloned())
        .map(|a| format!("{a}:{PORT}"))
        .ok_or_else(|| Error::Failed(format!("registry {name} has no address on {}", lab.network())))
}

/// The registry's address as published on 127.0.0.1.
pub fn local_address(docker: &Docker, container: &str) -> Result<String> {
    let out = docker.output(["port", container, &format!("{PORT}/tcp")])?;
    parse_local_port(&out).ok_or_else(|| {
        Error::Failed(format!("registry {container} is not published on 127.0.0.1 (docker port: {out})"))
    })
}

fn parse_local_port(docker_port: &str) -> Option<String> {
    docker_port.lines().map(str::trim).find(|l| l.starts_with("127.0.0.1:")).map(str::to_string)
}

fn wait_ready(address: &str, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        match http_get(address, "/v2/") {
            Ok((200, _)) => return Ok(()),
            result if Instant::now() > deadline => {
                let why = match result {
                    Ok((code, _)) => format!("HTTP {code}"),
                    Err(e) => e.to_string(),
                };
                return Err(Error::Failed(format!("the lab registry at {address} did not answer in time: {why}")));
            }
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// The repositories in the registry (`GET /v2/_catalog`).
pub fn catalog(address: &str) -> Result<Vec<String>> {
    let (code, body) = http_get(address, "/v2/_catalog")?;
    if code != 200 {
        return Err(Error::Failed(format!("GET http://{address}/v2/_catalog: HTTP {code}")));
    }
    let v: serde_json::Value =
        serde_json::from_str(&body).map_err(|e| Error::Failed(format!("GET http://{address}/v2/_catalog: {e}")))?;
    Ok(v["repositories"].as_array().into_iter().flatten().filter_map(|r| r.as_str().map(str::to_string)).collect())
}

/// GET over plain HTTP (the registry speaks it on loopback): `(status, body)`.
pub fn http_get(address: &str, path: &str) -> Result<(u16, String)> {
    let url = format!("http://{address}{path}");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent.get(&url).call().map_err(|e| Error::Failed(format!("GET {url}: {e}")))?;
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().map_err(|e| Error::Failed(format!("GET {url}: {e}")))?;
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_run_for_the_registry() {
        let lab = LabName::parse("lab").unwrap();
        insta::assert_snapshot!(run_args(&lab, "172.18.0.1").join(" "), @"run --detach --name lab-registry --network push-lab-lab --label push.lab=lab --label push.lab.role=registry --volume push-lab-lab-registry:/var/lib/docker-registry --publish 172.18.0.1:5000:5000 --publish 127.0.0.1::5000 push-lab/registry:2.8");
    }

    #[test]
    fn finds_the_loopback_port() {
        assert_eq!(parse_local_port("172.18.0.1:5000\n127.0.0.1:49155\n").as_deref(), Some("127.0.0.1:49155"));
        assert_eq!(parse_local_port("0.0.0.0:5000"), None);
    }

    #[test]
    fn http_get_against_a_tiny_server() {
        let body = "{\"repositories\":[\"mail\",\"web\"]}\n";
        let (addr, server) = push_engine::test_http::answer_once(format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ));
        assert_eq!(catalog(&addr).unwrap(), ["mail", "web"]);
        server.join().unwrap();
    }
}
