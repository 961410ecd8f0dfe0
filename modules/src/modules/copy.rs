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
                write(args, Content::Inline(content.as_bytes()), None)
            }
            (None, Some(src)) => {
                if let Some(opened) = ctl.read_vaulted(src).map_err(|e| ArgError::invalid("src", e.to_string()))? {
                    return write(args, Content::Inline(&opened), Some(src));
                }
                let path = ctl.find_file(src).map_err(|e| ArgError::invalid("src", e.to_string()))?;
                let source = FileSource::read(path).map_err(|e| ArgError::invalid("src", e.to_string()))?;
                write(args, Content::File(source), Some(src))
            }
            (Some(_), Some(_)) => Err(ArgError::invalid("content", "src and content are mutually exclusive")),
            (None, None) => Err(ArgError::invalid("dest", "one of `content` or `src` is required")),
        }
    }
}

/// What a file written by [`write`] holds.
pub(super) enum Content<'a> {
    /// Known here (`content:`, a rendered template): carried in the snippet.
    Inline(&'a [u8]),
    /// A controller-side file (`src:`): sent from the file itself.
    File(FileSource),
}

/// A controller-side file, looked at without holding it: its hash, and its
/// bytes only when small enough to show in a diff.
pub(super) struct FileSource {
    path: std::path::PathBuf,
    sha256: String,
    diff_after: Option<Vec<u8>>,
}

/// Files up to this size are diffed (`--diff`); a larger diff is not read,
/// and the host's side of it would be cut in the middle anyway.
const DIFF_MAX_BYTES: u64 = 128 << 10;

impl FileSource {
    fn read(path: std::path::PathBuf) -> Result<FileSource, String> {
        let cannot = |e: std::io::Error| format!("cannot read {}: {e}", path.display());
        let mut file = std::fs::File::open(&path).map_err(cannot)?;
        let mut hasher = Sha256::new();
        let size = std::io::copy(&mut file, &mut hasher).map_err(cannot)?;
        let diff_after = if size <= DIFF_MAX_BYTES { Some(std::fs::read(&path).map_err(cannot)?) } else { None };
        Ok(FileSource { sha256: format!("{:x}", hasher.finalize()), path, diff_after })
    }
}

/// The op that puts `content` at `dest` (copy and template). With a `src`,
/// a `dest` that is a folder (on the host, or ending in /) gets the file
/// under src's name, as in Ansible.
pub(super) fn write(args: &Args, content: Content, src: Option<&str>) -> Result<Op, ArgError> {
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
    let (sha256, encoded, diff_after, attachment) = match content {
        Content::Inline(bytes) => (
            format!("{:x}", Sha256::digest(bytes)),
            base64::engine::general_purpose::STANDARD.encode(bytes),
            Some(bytes.to_vec()),
            None,
        ),
        Content::File(FileSource { path, sha256, diff_after }) => {
            let token = format!("PUSH_ATTACHMENT_{sha256}");
            (sha256, token.clone(), diff_after, Some(crate::Attachment { path, token }))
        }
    };
    ctx.extend([
        ("home".into(), home.into()),
        ("dest".into(), path.into()),
        ("src_name".into(), src_name.into()),
        ("force".into(), args.bool("force").unwrap_or(true).into()),
        ("backup".into(), args.bool("backup").unwrap_or(false).into()),
        ("validate".into(), serde_json::to_value(super::validate_words(args)?).unwrap_or_default()),
        ("sha256".into(), sha256.into()),
        ("content".into(), encoded.into()),
    ]);
    let mut op = super::render("copy.sh", Value::Object(ctx))?;
    op.diff_after = diff_after;
    op.diff_label = Some(dest.to_string());
    op.prefetch = prefetch;
    op.attachment = attachment;
    Ok(op)
}
