//! The example images `push lab images` builds and pushes into the lab
//! registry, for playbooks that deploy containers to the lab hosts.

use crate::base_image::ensure_image;
use crate::docker::Docker;
use crate::progress::Progress;
use crate::recipes::{Recipe, MAIL, WEB, WEBMAIL};
use crate::registry::Registry;
use crate::{Error, Result};

pub struct ExampleImage {
    /// Repository name in the registry (`web`).
    pub repo: &'static str,
    pub tag: &'static str,
    pub recipe: &'static Recipe,
    pub build_args: &'static [(&'static str, &'static str)],
    pub about: &'static str,
}

impl ExampleImage {
    /// The tag it is built under on this machine: `push-lab/web:v1`.
    pub fn local_tag(&self) -> String {
        format!("push-lab/{}:{}", self.repo, self.tag)
    }

    /// `REGISTRY/web:v1`.
    pub fn reference(&self, registry: &str) -> String {
        format!("{registry}/{}:{}", self.repo, self.tag)
    }
}

pub const EXAMPLES: &[ExampleImage] = &[
    ExampleImage {
        repo: "web",
        tag: "v1",
        recipe: &WEB,
        build_args: &[("VERSION", "v1")],
        about: "busybox httpd on port 80, page shows v1, /health 200",
    },
    ExampleImage {
        repo: "web",
        tag: "v2",
        recipe: &WEB,
        build_args: &[("VERSION", "v2")],
        about: "as v1, page shows v2",
    },
    ExampleImage {
        repo: "web",
        tag: "v3",
        recipe: &WEB,
        build_args: &[("VERSION", "v3"), ("LISTEN", "8080")],
        about: "a bad release: listens on 8080, so health checks on port 80 fail",
    },
    ExampleImage {
        repo: "mail",
        tag: "latest",
        recipe: &MAIL,
        build_args: &[],
        about: "exim4 (SMTP 25, 587) + dovecot (IMAP 143); env LOCAL_DOMAINS, MAIL_USERS or /etc/mail/users",
    },
    ExampleImage {
        repo: "webmail",
        tag: "latest",
        recipe: &WEBMAIL,
        build_args: &[],
        about: "Roundcube on port 80; env MAIL_HOST (default: mail)",
    },
];

/// The examples whose repository is in `only` (all when it is empty).
pub fn select(only: &[String]) -> Result<Vec<&'static ExampleImage>> {
    for name in only {
        if !EXAMPLES.iter().any(|e| e.repo == name) {
            let mut known: Vec<&str> = EXAMPLES.iter().map(|e| e.repo).collect();
            known.dedup();
            return Err(Error::Usage(format!("unknown lab image `{name}`: choose from {}", known.join(", "))));
        }
    }
    Ok(EXAMPLES.iter().filter(|e| only.is_empty() || only.iter().any(|o| o == e.repo)).collect())
}

/// Build `image` locally (reused when its recipe has not changed).
pub fn build(docker: &Docker, progress: &Progress, image: &ExampleImage) -> Result<()> {
    ensure_image(docker, progress, image.recipe, &image.local_tag(), image.build_args)
}

/// Push `image` through the registry's loopback address; returns its
/// reference as the lab hosts see it.
pub fn push(docker: &Docker, progress: &Progress, image: &ExampleImage, registry: &Registry) -> Result<String> {
    let local_ref = image.reference(&registry.local_address);
    progress.phase(&format!("push {}", image.reference(&registry.address)));
    docker.output(["tag", &image.local_tag(), &local_ref])?;
    let mut tail = Vec::new();
    let pushed = docker.stream(["push", local_ref.as_str()], &|l| progress.detail(l), &mut tail);
    // The loopback tag is only a vehicle; the push-lab/ tag stays.
    let _ = docker.output(["rmi", local_ref.as_str()]);
    if let Err(e) = pushed {
        progress.tail(&tail);
        return Err(e);
    }
    progress.done(&format!("pushed {}", image.local_tag()));
    Ok(image.reference(&registry.address))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selects_by_repository() {
        assert_eq!(select(&[]).unwrap().len(), 5);
        let web: Vec<String> = select(&["web".into()]).unwrap().iter().map(|e| e.local_tag()).collect();
        assert_eq!(web, ["push-lab/web:v1", "push-lab/web:v2", "push-lab/web:v3"]);
        let e = select(&["db".into()]).err().unwrap();
        assert_eq!(e.to_string(), "unknown lab image `db`: choose from web, mail, webmail");
        assert_eq!(e.exit_code(), 5);
    }

    #[test]
    fn references() {
        let e = &EXAMPLES[2];
        assert_eq!(e.reference("172.18.0.1:5000"), "172.18.0.1:5000/web:v3");
    }
}
