use serde_json::Value;

use super::docker_common::{check_image, image_registry};
use crate::args::{ArgError, Args, Kind, Param};
use crate::{Controller, Module, Op};

/// `docker_image`: an image present on the host (by tag or digest), or
/// absent.
///
/// Pull policy (`pull`):
/// - `missing` (default): pull only when the host has no image by that
///   name. A tag that moved in the registry is not followed; a digest
///   (`app@sha256:...`) never moves.
/// - `always`: follow the tag. The probe asks the registry for the tag's
///   manifest (`docker manifest inspect`, nothing downloaded) and compares
///   its config digest, which is the image id, with the local image's id:
///   equal means ok, so a run with nothing new in the registry changes
///   nothing and pulls nothing. The apply pulls and reports `changed`
///   only if the image id moved. If the registry cannot be asked (no
///   manifest support, no platform entry), the probe says it would pull
///   and the apply decides by the id.
///
/// The engine pins `name` to a digest once per run (`tag@sha256:...`, see
/// `push run --no-pin`): the tag is then followed on the controller, at the
/// start of each run, and every host gets the same image; `pull` only
/// matters with `--no-pin` or a registry the controller cannot reach.
///
/// Credentials (`username`, `password`, `registry`, which defaults to the
/// registry named in the image, else Docker Hub): the password never
/// reaches a command line or the output. `docker login --password-stdin`
/// reads it from a pipe fed by the shell's builtin `printf`, into a
/// temporary Docker config that is removed when the step ends, so no
/// credentials stay on the host. Messages name the registry and user only.
pub struct DockerImage;

const PARAMS: &[Param] = &[
    Param::new("name", Kind::Str).required().aliases(&["image"]),
    Param::new("state", Kind::Str).choices(&["present", "absent"]),
    Param::new("pull", Kind::Str).choices(&["missing", "always"]),
    Param::new("registry", Kind::Str),
    Param::new("username", Kind::Str).aliases(&["registry_username"]),
    Param::new("password", Kind::Str).aliases(&["registry_password"]),
];

impl Module for DockerImage {
    fn name(&self) -> &'static str {
        "docker_image"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn pinned_image_args(&self) -> &'static [&'static str] {
        &["name"]
    }
    fn plan(&self, args: &Args, _: &dyn Controller) -> Result<Op, ArgError> {
        let name = args.str("name").unwrap_or_default();
        check_image("name", name)?;
        let (username, password) = (args.str("username"), args.str("password"));
        if username.is_some() != password.is_some() {
            return Err(ArgError::invalid("username", "give both `username` and `password`, or neither"));
        }
        let registry = args.str("registry").map(String::from).or_else(|| image_registry(name).map(String::from));
        if let Some(r) = &registry {
            check_image("registry", r)?;
        }
        let mut ctx = super::docker_common::formats();
        ctx.extend([
            ("name".into(), name.into()),
            ("state".into(), args.str("state").unwrap_or("present").into()),
            // A digest never moves: there is nothing to follow.
            ("pull".into(), if name.contains('@') { "missing" } else { args.str("pull").unwrap_or("missing") }.into()),
            ("login".into(), username.is_some().into()),
            ("username".into(), username.unwrap_or("").into()),
            ("password".into(), password.unwrap_or("").into()),
            // Empty: Docker Hub, `docker login` with no server.
            ("registry".into(), registry.clone().unwrap_or_default().into()),
            ("registry_host".into(), registry.unwrap_or_else(|| "docker.io".into()).into()),
        ]);
        super::render("docker_image.sh", Value::Object(ctx))
    }
}
