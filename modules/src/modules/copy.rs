use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::args::{ArgError, Args, Kind, Param};
use crate::{Controller, Module, Op};

/// `copy`: a file's content (from `content` or a controller-side `src`)
/// and attributes.
pub struct Copy;

const PARAMS: &[Param] = &[
    Param::new("dest", Kind::Str).required(),
    Param::new("content", Kind::Str),
    Param::new("src", Kind::Str),
    Param::new("mode", Kind::Mode),
    Param::new("owner", Kind::Str),
    Param::new("group", Kind::Str),
    Param::new("backup", Kind::Bool),
    Param::new("force", Kind::Bool).aliases(&["thirsty"]),
    Param::new("validate", Kind::Str),
];

impl Module for Copy {
    fn name(&self) -> &'static str {
        "copy"
    }
    fn params(&self) -> &'static [Param] {
        PARAMS
    }
    fn plan(&self, args: &Args, ctl: &dyn Controller) -> Result<Op, ArgError> {
        match (args.str("content"), args.str("src")) {
            (Some(content), None) => {
                if args.str("dest").is_some_and(|d| d.ends_with('/')) {
                    return Err(ArgError::invalid("dest", "can not use content with a dir as dest"));
                }
                write(args, content.as_bytes(), None)
            }
            (None, Some(src)) => {
                let bytes = ctl.read_file(src).map_err(|e| ArgError::invalid("src", e))?;
                write(args, &bytes, Some(src))
            }
            (Some(_), Some(_)) => Err(ArgError::invalid("content", "src and content are mutually exclusive")),
            (None, None) => Err(ArgError::invalid("dest", "one of `content` or `src` is required")),
        }
    }
}

/// The op that puts `content` at `dest` (copy and template). With a `src`,
/// a `dest` that is a folder (on the host, or ending in /) gets the file
/// under src's name, as in Ansible.
pub(super) fn write(args: &Args, content: &[u8], src: Option<&str>) -> Result<Op, ArgError> {
    let dest = args.str("dest").unwrap_or_default();
    let src_name = src.and_then(|s| s.trim_end_matches('/').rsplit('/').next()).unwrap_or("");
    let (home, mut path) = super::host_path(dest);
    if dest.ends_with('/') && !src_name.is_empty() {
        path = format!("{}/{src_name}", path.trim_end_matches('/'));
    }
    let mut ctx = super::attrs(args);
    let prefetch = if home {
        crate::Prefetch::default()
    } else {
        crate::Prefetch { stat: vec![path.clone()], sha256: vec![path.clone()] }
    };
    ctx.extend([
        ("home".into(), home.into()),
        ("dest".into(), path.into()),
        ("src_name".into(), src_name.into()),
        ("force".into(), args.bool("force").unwrap_or(true).into()),
        ("backup".into(), args.bool("backup").unwrap_or(false).into()),
        ("validate".into(), serde_json::to_value(super::validate_words(args)?).unwrap_or_default()),
        ("sha256".into(), format!("{:x}", Sha256::digest(content)).into()),
        ("content".into(), base64::engine::general_purpose::STANDARD.encode(content).into()),
    ]);
    let mut op = super::render("copy.sh", Value::Object(ctx))?;
    op.diff_after = Some(content.to_vec());
    op.diff_label = Some(dest.to_string());
    op.prefetch = prefetch;
    Ok(op)
}
