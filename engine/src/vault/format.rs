//! Ansible Vault's envelope, byte for byte as `ansible-vault` writes it:
//!
//! ```text
//! $ANSIBLE_VAULT;1.1;AES256          (1.2 adds `;LABEL`)
//! hex( hex(salt) \n hex(hmac) \n hex(ciphertext) )   in lines of 80
//! ```
//!
//! Keys come from PBKDF2-HMAC-SHA256 (10000 rounds, 32-byte salt) as 80
//! bytes: the AES-256 key, the HMAC-SHA256 key, then the CTR's initial
//! counter. The plaintext is PKCS#7-padded before AES-CTR, as Ansible does.

use aes::cipher::{KeyIvInit, StreamCipher};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

const HEADER: &str = "$ANSIBLE_VAULT";
const CIPHER: &str = "AES256";
const ROUNDS: u32 = 10_000;
const SALT_LEN: usize = 32;
const KEY_LEN: usize = 32;
const IV_LEN: usize = 16;
const BLOCK: usize = 16;
const LINE: usize = 80;

type Aes256Ctr = ctr::Ctr128BE<aes::Aes256>;

/// Why a vaulted text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("not a vault: it does not start with `$ANSIBLE_VAULT;`")]
    NotVaulted,
    #[error("unsupported vault header `{0}` (push reads 1.1 and 1.2 with AES256)")]
    Header(String),
    #[error("the vaulted text is damaged ({0})")]
    Damaged(&'static str),
    /// The HMAC did not match: a wrong password, or a changed text.
    #[error("the password does not open it")]
    WrongPassword,
}

/// A vault's header and still encrypted body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// `1.2`'s vault id, if any.
    pub label: Option<String>,
    body: String,
}

/// True when `text` is a vault (after leading whitespace, as in a `!vault |` block).
pub fn is_vaulted(text: &[u8]) -> bool {
    text.trim_ascii_start().starts_with(format!("{HEADER};").as_bytes())
}

/// Split a vault into its header and body.
pub fn parse_envelope(text: &str) -> Result<Envelope, FormatError> {
    let text = text.trim_start();
    let (header, body) = text.split_once('\n').unwrap_or((text, ""));
    let fields: Vec<&str> = header.trim().split(';').map(str::trim).collect();
    if fields.first() != Some(&HEADER) {
        return Err(FormatError::NotVaulted);
    }
    let label = match fields.as_slice() {
        [_, "1.1" | "1.2", CIPHER] => None,
        [_, "1.1" | "1.2", CIPHER, label] => Some(label.to_string()),
        _ => return Err(FormatError::Header(header.trim().to_string())),
    };
    let body: String = body.split_whitespace().collect();
    Ok(Envelope { label, body })
}

/// Encrypt `plaintext` as `ansible-vault encrypt` does; with a label
/// other than `default`, in format 1.2.
pub fn encrypt(plaintext: &[u8], password: &[u8], label: Option<&str>) -> String {
    let salt: [u8; SALT_LEN] = rand::random();
    encrypt_with_salt(plaintext, password, label, &salt)
}

fn encrypt_with_salt(plaintext: &[u8], password: &[u8], label: Option<&str>, salt: &[u8]) -> String {
    let keys = Keys::derive(password, salt);
    let mut data = pkcs7_pad(plaintext);
    keys.cipher().apply_keystream(&mut data);
    let mac = keys.mac_of(&data);
    let inner = format!("{}\n{}\n{}", hex::encode(salt), hex::encode(mac), hex::encode(&data));
    let body = hex::encode(inner);
    let mut out = match label.filter(|l| *l != "default") {
        Some(label) => format!("{HEADER};1.2;{CIPHER};{label}\n"),
        None => format!("{HEADER};1.1;{CIPHER}\n"),
    };
    for line in body.as_bytes().chunks(LINE) {
        out.push_str(std::str::from_utf8(line).expect("hex is ASCII"));
        out.push('\n');
    }
    out
}

impl Envelope {
    /// The plaintext, if `password` opens it.
    pub fn decrypt(&self, password: &[u8]) -> Result<Zeroizing<Vec<u8>>, FormatError> {
        let inner = hex::decode(&self.body).map_err(|_| FormatError::Damaged("not hexadecimal"))?;
        let mut parts = inner.splitn(3, |b| *b == b'\n');
        let (Some(salt), Some(mac), Some(data)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(FormatError::Damaged("salt, HMAC or ciphertext missing"));
        };
        let salt = hex::decode(salt).map_err(|_| FormatError::Damaged("salt not hexadecimal"))?;
        let mac = hex::decode(mac).map_err(|_| FormatError::Damaged("HMAC not hexadecimal"))?;
        let mut data = Zeroizing::new(hex::decode(data).map_err(|_| FormatError::Damaged("data not hexadecimal"))?);
        let keys = Keys::derive(password, &salt);
        keys.verify(&data, &mac)?;
        keys.cipher().apply_keystream(&mut data);
        let len = pkcs7_unpadded_len(&data).ok_or(FormatError::Damaged("bad padding"))?;
        data.truncate(len);
        Ok(data)
    }
}

/// The 80 bytes PBKDF2 derives: AES key, HMAC key, initial counter.
struct Keys(Zeroizing<[u8; 2 * KEY_LEN + IV_LEN]>);

impl Keys {
    fn derive(password: &[u8], salt: &[u8]) -> Keys {
        let mut out = Zeroizing::new([0u8; 2 * KEY_LEN + IV_LEN]);
        pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, ROUNDS, &mut out[..]);
        Keys(out)
    }

    fn cipher(&self) -> Aes256Ctr {
        Aes256Ctr::new(self.0[..KEY_LEN].into(), self.0[2 * KEY_LEN..].into())
    }

    fn hmac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(&self.0[KEY_LEN..2 * KEY_LEN]).expect("HMAC takes any key length")
    }

    fn mac_of(&self, data: &[u8]) -> Vec<u8> {
        let mut mac = self.hmac();
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }

    /// Constant-time check of the HMAC over the ciphertext.
    fn verify(&self, data: &[u8], expected: &[u8]) -> Result<(), FormatError> {
        let mut mac = self.hmac();
        mac.update(data);
        mac.verify_slice(expected).map_err(|_| FormatError::WrongPassword)
    }
}

fn pkcs7_pad(plaintext: &[u8]) -> Zeroizing<Vec<u8>> {
    let pad = BLOCK - plaintext.len() % BLOCK;
    let mut out = Zeroizing::new(Vec::with_capacity(plaintext.len() + pad));
    out.extend_from_slice(plaintext);
    out.extend(std::iter::repeat_n(pad as u8, pad));
    out
}

fn pkcs7_unpadded_len(data: &[u8]) -> Option<usize> {
    let pad = usize::from(*data.last()?);
    let valid = (1..=BLOCK).contains(&pad)
        && data.len() >= pad
        && data.len() % BLOCK == 0
        && data[data.len() - pad..].iter().all(|b| usize::from(*b) == pad);
    valid.then(|| data.len() - pad)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Written by `ansible-vault` (tests/fixtures/vault/regenerate).
    const FIXTURE_11: &str = include_str!("../../../tests/fixtures/vault/secret.yml");
    const FIXTURE_12: &str = include_str!("../../../tests/fixtures/vault/secret-prod.yml");
    const FIXTURE_PLAIN: &str = include_str!("../../../tests/fixtures/vault/secret.plain.yml");

    fn open(text: &str, password: &str) -> Result<String, FormatError> {
        let plain = parse_envelope(text)?.decrypt(password.as_bytes())?;
        Ok(String::from_utf8(plain.to_vec()).unwrap())
    }

    #[test]
    fn reads_what_ansible_vault_wrote() {
        assert_eq!(open(FIXTURE_11, "fixture-password").unwrap(), FIXTURE_PLAIN);
        assert_eq!(parse_envelope(FIXTURE_12).unwrap().label.as_deref(), Some("prod"));
        assert_eq!(open(FIXTURE_12, "prod-password").unwrap(), FIXTURE_PLAIN);
    }

    #[test]
    fn writes_what_ansible_vault_writes_for_the_same_salt() {
        // With the salt taken from the fixture, the output must be the fixture itself.
        let inner = hex::decode(parse_envelope(FIXTURE_11).unwrap().body).unwrap();
        let salt = hex::decode(inner.split(|b| *b == b'\n').next().unwrap()).unwrap();
        let again = encrypt_with_salt(FIXTURE_PLAIN.as_bytes(), b"fixture-password", None, &salt);
        assert_eq!(again, FIXTURE_11);
    }

    #[test]
    fn a_wrong_password_is_told_apart_from_damage() {
        assert_eq!(open(FIXTURE_11, "nope"), Err(FormatError::WrongPassword));
        let damaged = FIXTURE_11.replacen("\n3", "\nz", 1);
        assert!(matches!(open(&damaged, "fixture-password"), Err(FormatError::Damaged(_))), "{damaged}");
        assert_eq!(open("plain: text\n", "x"), Err(FormatError::NotVaulted));
        assert!(matches!(open("$ANSIBLE_VAULT;9.9;AES\nab\n", "x"), Err(FormatError::Header(_))));
    }

    #[test]
    fn round_trips_any_length_and_labels() {
        for len in [0, 1, 15, 16, 17, 100] {
            let plain = vec![b'x'; len];
            let text = encrypt(&plain, b"pw", Some("dev"));
            assert!(text.starts_with("$ANSIBLE_VAULT;1.2;AES256;dev\n"), "{text}");
            assert!(text.lines().all(|l| l.len() <= LINE));
            assert_eq!(parse_envelope(&text).unwrap().decrypt(b"pw").unwrap().to_vec(), plain);
        }
        assert!(encrypt(b"x", b"pw", Some("default")).starts_with("$ANSIBLE_VAULT;1.1;AES256\n"));
    }
}
