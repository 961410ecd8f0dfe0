//! Ansible Vault: vaulted files and `!vault` values, opened on the
//! controller with the run's passwords.
//!
//! The passwords are installed once per process, before anything is
//! loaded, so every reader of YAML and of `src:` files opens vaults the
//! same way without threading a keyring through each of them. Every value
//! opened is remembered: a task whose arguments carry one is treated as
//! `no_log`, and a script that carries one is not kept.

pub mod format;
pub mod keyring;

use std::sync::{Arc, Mutex, RwLock};

use serde_json::Value;
use zeroize::Zeroizing;

pub use format::{is_vaulted, FormatError};
pub use keyring::{Keyring, OpenError, PasswordError, Source, VaultId};

static KEYRING: RwLock<Option<Arc<Keyring>>> = RwLock::new(None);
static REVEALED: Mutex<Vec<Zeroizing<String>>> = Mutex::new(Vec::new());

/// The passwords vaults are opened with from now on.
pub fn install(keyring: Keyring) {
    *KEYRING.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(keyring));
}

fn installed() -> Arc<Keyring> {
    KEYRING.read().unwrap_or_else(|e| e.into_inner()).clone().unwrap_or_default()
}

/// Open a vaulted text with the installed passwords.
pub fn open(text: &str) -> Result<Zeroizing<Vec<u8>>, OpenError> {
    installed().open(text)
}

/// Open a vaulted text that must be UTF-8 (a vars file, a `!vault` value).
pub fn open_text(text: &str) -> Result<Zeroizing<String>, OpenError> {
    let bytes = open(text)?;
    match std::str::from_utf8(&bytes) {
        Ok(s) => Ok(Zeroizing::new(s.to_string())),
        Err(_) => Err(OpenError::Format(FormatError::Damaged("the plaintext is not UTF-8 text"))),
    }
}

/// Remember `value` as a secret: text carrying it is never shown or kept.
pub fn remember_secret(value: &str) {
    if !value.is_empty() {
        REVEALED.lock().unwrap_or_else(|e| e.into_inner()).push(Zeroizing::new(value.to_string()));
    }
}

/// Whether `text` carries a value opened from a vault.
pub fn carries_secret(text: &[u8]) -> bool {
    let revealed = REVEALED.lock().unwrap_or_else(|e| e.into_inner());
    revealed.iter().any(|secret| contains(text, secret.as_bytes()))
}

/// Whether any string in `value` carries a value opened from a vault.
pub fn json_carries_secret(value: &Value) -> bool {
    match value {
        Value::String(s) => carries_secret(s.as_bytes()),
        Value::Array(items) => items.iter().any(json_carries_secret),
        Value::Object(map) => map.values().any(json_carries_secret),
        _ => false,
    }
}

/// What stands in an error message for a value opened from a vault.
pub const REDACTED: &str = "<vaulted>";

/// `text` with every value opened from a vault replaced by [`REDACTED`]
/// (for error messages, which may quote an argument's value).
pub fn redact(text: &str) -> String {
    let revealed = REVEALED.lock().unwrap_or_else(|e| e.into_inner());
    let mut out = text.to_string();
    // Longest first, so a secret that contains another is replaced whole.
    let mut secrets: Vec<&str> = revealed.iter().map(|s| s.as_str()).collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for secret in secrets {
        if out.contains(secret) {
            out = out.replace(secret, REDACTED);
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The hint for a vault that could not be opened.
pub fn hint(e: &OpenError) -> &'static str {
    match e {
        OpenError::NoPassword => {
            "give its password with --vault-password-file FILE, --vault-id LABEL@SOURCE or --ask-vault-pass"
        }
        OpenError::NoneOpens(_) => "check the vault password (or --vault-id label) this file was encrypted with",
        OpenError::Format(_) => "re-create it with `push vault encrypt` or `ansible-vault encrypt`",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_replaces_each_secret_longest_first() {
        remember_secret("redact-test-secret");
        remember_secret("redact-test-secret-longer");
        assert_eq!(redact("a redact-test-secret-longer b redact-test-secret c"), "a <vaulted> b <vaulted> c");
    }
}
