//! Expiring links to local files: an HMAC over the uid and the expiry, so a link stops
//! working when it expires or when any part of it is changed.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &str, uid: &str, expires: i64) -> HmacSha256 {
    // a key of its own, so a link signature can never stand in for anything else
    let mut mac = HmacSha256::new_from_slice(format!("vitrine file links\0{secret}").as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(uid.as_bytes());
    mac.update(b"\0");
    mac.update(expires.to_string().as_bytes());
    mac
}

pub fn sign(secret: &str, uid: &str, expires: i64) -> String {
    hex::encode(mac(secret, uid, expires).finalize().into_bytes())
}

/// Why a link is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum LinkProblem {
    Expired,
    Invalid,
}

pub fn verify(
    secret: &str,
    uid: &str,
    expires: i64,
    signature: &str,
    now: i64,
) -> Result<(), LinkProblem> {
    let signature = hex::decode(signature).map_err(|_| LinkProblem::Invalid)?;
    mac(secret, uid, expires)
        .verify_slice(&signature)
        .map_err(|_| LinkProblem::Invalid)?;
    if expires <= now {
        return Err(LinkProblem::Expired);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_links_verify_until_they_expire() {
        let signature = sign("secret", "uid-1", 1_000);
        assert_eq!(verify("secret", "uid-1", 1_000, &signature, 999), Ok(()));
        assert_eq!(
            verify("secret", "uid-1", 1_000, &signature, 1_000),
            Err(LinkProblem::Expired)
        );
    }

    #[test]
    fn any_change_breaks_the_signature() {
        let signature = sign("secret", "uid-1", 1_000);
        assert_eq!(
            verify("secret", "uid-2", 1_000, &signature, 0),
            Err(LinkProblem::Invalid)
        );
        assert_eq!(
            verify("secret", "uid-1", 2_000, &signature, 0),
            Err(LinkProblem::Invalid)
        );
        assert_eq!(
            verify("other", "uid-1", 1_000, &signature, 0),
            Err(LinkProblem::Invalid)
        );
        assert_eq!(
            verify("secret", "uid-1", 1_000, "zz", 0),
            Err(LinkProblem::Invalid)
        );
        let mut tampered = signature.clone();
        tampered.replace_range(0..1, if signature.starts_with('0') { "1" } else { "0" });
        assert_eq!(
            verify("secret", "uid-1", 1_000, &tampered, 0),
            Err(LinkProblem::Invalid)
        );
    }
}
