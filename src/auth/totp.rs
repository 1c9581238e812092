//! TOTP (RFC 6238: SHA-1, 6 digits, 30 s, ±1 step) with replay protection, and recovery codes.

use rand::Rng;
use totp_rs::{Builder, Secret};

pub const ISSUER: &str = "Dango";
pub const RECOVERY_CODE_COUNT: usize = 10;
const RECOVERY_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// A fresh 160-bit secret, base32-encoded (32 characters).
pub fn new_secret() -> String {
    let mut bytes = [0u8; 20];
    rand::rng().fill(&mut bytes);
    Secret::from(bytes.to_vec()).to_base32()
}

pub fn provisioning_uri(secret: &str, email: &str) -> String {
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}&algorithm=SHA1&digits=6&period=30",
        issuer = ISSUER,
        account = urlencoding::encode(email),
    )
}

/// The time step a valid `code` belongs to, if the code is valid now and its step is
/// newer than `last_step` (the step of the last accepted code: a replay is refused).
pub fn verify(secret: &str, code: &str, last_step: Option<i64>, unix_time: u64) -> Option<i64> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secret = Secret::try_from_base32(secret).ok()?;
    let totp = Builder::new().with_secret(secret).build().ok()?;
    let step = i64::try_from(totp.check(code, unix_time)?).ok()?;
    match last_step {
        Some(last) if step <= last => None,
        _ => Some(step),
    }
}

/// The code for a given time (used by tests and the CLI's self-check).
pub fn code_at(secret: &str, unix_time: u64) -> Option<String> {
    let secret = Secret::try_from_base32(secret).ok()?;
    let totp = Builder::new().with_secret(secret).build().ok()?;
    Some(totp.generate(unix_time).to_string())
}

/// `XXXX-XXXX` codes from an alphabet without look-alike characters (~40 bits each).
pub fn new_recovery_codes() -> Vec<String> {
    let mut rng = rand::rng();
    (0..RECOVERY_CODE_COUNT)
        .map(|_| {
            let chars: String = (0..8)
                .map(|_| RECOVERY_ALPHABET[rng.random_range(0..RECOVERY_ALPHABET.len())] as char)
                .collect();
            format!("{}-{}", &chars[..4], &chars[4..])
        })
        .collect()
}

/// Canonical form used for hashing: dashes and spaces removed, upper-case.
pub fn normalize_recovery_code(code: &str) -> String {
    code.chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .flat_map(char::to_uppercase)
        .collect()
}

pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_vector() {
        // RFC 6238 appendix B, secret "12345678901234567890", T=59 → 94287082 (8 digits);
        // the 6-digit code is its last six digits.
        let secret = Secret::from(b"12345678901234567890".to_vec()).to_base32();
        assert_eq!(code_at(&secret, 59).as_deref(), Some("287082"));
    }

    #[test]
    fn accepts_window_and_rejects_replay() {
        let secret = new_secret();
        let now = 1_800_000_000;
        let code = code_at(&secret, now).unwrap();
        let step = verify(&secret, &code, None, now).unwrap();
        assert_eq!(step, (now / 30) as i64);
        // same code again: replay
        assert_eq!(verify(&secret, &code, Some(step), now), None);
        // previous step's code still accepted within ±1 when not yet used
        let previous = code_at(&secret, now - 30).unwrap();
        assert!(verify(&secret, &previous, None, now).is_some());
        // but not after a newer step was used
        assert!(verify(&secret, &previous, Some(step), now).is_none());
        // two steps away: rejected
        let old = code_at(&secret, now - 90).unwrap();
        assert!(verify(&secret, &old, None, now).is_none());
        assert!(verify(&secret, "12345", None, now).is_none());
        assert!(verify(&secret, "abcdef", None, now).is_none());
    }

    #[test]
    fn recovery_codes_shape() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), 10);
        for code in &codes {
            assert_eq!(code.len(), 9);
            assert_eq!(&code[4..5], "-");
        }
        assert_eq!(normalize_recovery_code("abcd-efgh"), "ABCDEFGH");
        assert!(
            provisioning_uri(&new_secret(), "a@b.c")
                .starts_with("otpauth://totp/Dango:a%40b.c?secret=")
        );
    }
}
