//! The CapToken JSON encoding (`docs/captoken.md`): the seed's token object plus capfast's extra claims, read
//! under a strict wire profile ([`json`]), checked field by field, and turned into the bytes its issuer signs:
//!
//! ```text
//! signed = "capfast-captoken-v1\n" ‖ JCS(token without "signature")
//! ```
//!
//! where JCS is RFC 8785 (members sorted by name, no whitespace); under the wire profile every string is printable
//! ASCII without `"` or `\` and every number an unsigned integer, so JCS is plain concatenation. An issuer named by
//! a cap-key.v1 KID (32 hex digits) signs `signed` with Ed25519; an issuer named by a wallet address signs it with
//! EIP-191 `personal_sign`. Only pinned issuers count (the token never carries a key).

pub mod batch;
pub mod json;

use crate::error::{Error, Result, TokenErrorKind};
use crate::wallet;
use json::Value;

/// Largest token accepted, checked before parsing.
pub const MAX_TOKEN_BYTES: usize = 8192;
/// Context string that starts every signed message (key-purpose separation from CAP packages and manifests).
pub const CONTEXT: &[u8] = b"capfast-captoken-v1\n";
/// Highest capability level.
pub const MAX_CAP_LEVEL: u64 = 100;
/// Latest timestamp accepted (9999-12-31T23:59:59Z).
pub const MAX_TIME: u64 = 253_402_300_799;
/// Longest scope string.
pub const MAX_SCOPE_LEN: usize = 256;

/// Every member name of the format, in canonical (sorted) order.
pub const FIELDS: &[&str] = &[
    "audience",
    "binding",
    "cap_level",
    "device",
    "effect",
    "issued_at",
    "issuer",
    "not_before",
    "revocation_id",
    "role",
    "scope",
    "signature",
    "token_id",
    "valid_until",
    "wallet",
];

const REQUIRED: &[&str] = &[
    "audience",
    "cap_level",
    "issued_at",
    "issuer",
    "not_before",
    "revocation_id",
    "role",
    "scope",
    "signature",
    "token_id",
    "valid_until",
];

/// Who signed: a pinned Ed25519 key by KID, or a wallet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Issuer {
    Kid([u8; 16]),
    Wallet(wallet::Address),
}

/// The typed claims of one token, field for field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub audience: String,
    pub binding: Option<String>,
    pub cap_level: u64,
    pub device: Option<String>,
    pub effect: Option<String>,
    pub issued_at: u64,
    pub issuer: String,
    pub not_before: u64,
    pub revocation_id: String,
    pub role: String,
    pub scope: Vec<String>,
    pub token_id: String,
    pub valid_until: u64,
    pub wallet: Option<String>,
}

/// A token read and checked for form (not yet for its signature).
#[derive(Debug, Clone)]
pub struct Parsed {
    pub claims: Claims,
    pub issuer: Issuer,
    /// The exact bytes the issuer signed.
    pub signed: Vec<u8>,
    /// 64 bytes (Ed25519) or 65 bytes (EIP-191).
    pub signature: Vec<u8>,
}

fn format_err(msg: String) -> Error {
    Error::token(TokenErrorKind::Format, msg)
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn is_word(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// `role = word *( ("." / "_" / "-") word )`, word = 1*(a-z / 0-9), at most 64 characters.
pub fn valid_role(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 64 || !is_word(b[0]) || !is_word(b[b.len() - 1]) {
        return false;
    }
    b.windows(2).all(|w| {
        let sep = |c: u8| matches!(c, b'.' | b'_' | b'-');
        (is_word(w[0]) || sep(w[0])) && (is_word(w[1]) || sep(w[1])) && !(sep(w[0]) && sep(w[1]))
    })
}

/// A DNS name in lowercase: labels of a-z, 0-9 and inner hyphens, 1–63 characters, dot-separated, ≤ 253.
pub fn valid_audience(s: &str) -> bool {
    if s.is_empty() || s.len() > 253 {
        return false;
    }
    s.split('.').all(|label| {
        let b = label.as_bytes();
        !b.is_empty()
            && b.len() <= 63
            && is_word(b[0])
            && is_word(b[b.len() - 1])
            && b.iter().all(|&c| is_word(c) || c == b'-')
    })
}

/// A device id: 1–128 of A-Z a-z 0-9 `.` `_` `:` `-`.
pub fn valid_device(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b':' | b'-'))
}

fn valid_kind(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 32
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
}

fn valid_segment(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'~' | b'-'))
}

/// The scope grammar (`docs/captoken.md` §4): `kind ":/" segment *("/" segment) ["/*"]` or `kind ":/*"`.
pub fn valid_scope(s: &str) -> bool {
    if s.len() > MAX_SCOPE_LEN {
        return false;
    }
    let Some((kind, path)) = s.split_once(":/") else {
        return false;
    };
    if !valid_kind(kind) {
        return false;
    }
    let segments: Vec<&str> = path.split('/').collect();
    let (last, body) = segments.split_last().unwrap_or((&"", &[]));
    if *last == "*" {
        return body.iter().all(|seg| valid_segment(seg));
    }
    segments.iter().all(|seg| valid_segment(seg))
}

fn valid_address(s: &str) -> std::result::Result<(), String> {
    wallet::parse_address(s).map(|_| ()).map_err(|e| e.to_string())
}

fn take_str<'a>(v: &Value<'a>, name: &str) -> Result<&'a str> {
    match v {
        Value::Str(s) => Ok(s),
        _ => Err(format_err(format!("field {name:?} must be a string"))),
    }
}

fn take_uint(v: &Value<'_>, name: &str) -> Result<u64> {
    match v {
        Value::UInt(n) => Ok(*n),
        _ => Err(format_err(format!("field {name:?} must be an unsigned integer"))),
    }
}

fn check(ok: bool, name: &str, what: &str, value: &str) -> Result<()> {
    if ok {
        Ok(())
    } else {
        let shown: String = value.chars().take(80).collect();
        Err(format_err(format!("field {name:?} must be {what}, got {shown:?}")))
    }
}

fn time(v: &Value<'_>, name: &str) -> Result<u64> {
    let t = take_uint(v, name)?;
    if t > MAX_TIME {
        return Err(format_err(format!("field {name:?} is after 9999-12-31 ({t})")));
    }
    Ok(t)
}

fn unhex(s: &str) -> Vec<u8> {
    s.as_bytes()
        .chunks_exact(2)
        .map(|c| {
            let v = |b: u8| if b.is_ascii_digit() { b - b'0' } else { b - b'a' + 10 };
            (v(c[0]) << 4) | v(c[1])
        })
        .collect()
}

/// Reads one token (size cap, wire profile, field grammar) and builds its signed bytes.
pub fn parse(raw: &[u8]) -> Result<Parsed> {
    if raw.len() > MAX_TOKEN_BYTES {
        return Err(Error::token(
            TokenErrorKind::TooLarge,
            format!("token is {} bytes, over the {MAX_TOKEN_BYTES}-byte limit", raw.len()),
        ));
    }
    let members = json::parse_object(raw, FIELDS)?;
    let get = |name: &str| members.iter().find(|(k, _)| *k == name).map(|(_, v)| v);
    for name in REQUIRED {
        if get(name).is_none() {
            return Err(format_err(format!("missing field {name:?}")));
        }
    }
    let req = |name: &str| get(name).ok_or_else(|| format_err(format!("missing field {name:?}")));
    let opt_str =
        |name: &str| -> Result<Option<String>> { get(name).map(|v| take_str(v, name).map(str::to_string)).transpose() };

    let wallet_text = opt_str("wallet")?;
    let effect = opt_str("effect")?;
    match (&wallet_text, &effect) {
        (Some(_), Some(_)) => {
            return Err(format_err(
                "a token carries either \"wallet\" or \"effect\", not both".into(),
            ))
        }
        (None, None) => {
            return Err(format_err(
                "missing field \"wallet\" (or \"effect\" for a one-time token)".into(),
            ))
        }
        _ => {}
    }
    if let Some(w) = &wallet_text {
        valid_address(w).map_err(|e| format_err(format!("field \"wallet\": {e}")))?;
    }
    if let Some(e) = &effect {
        check(is_lower_hex(e, 32), "effect", "32 lowercase hex digits", e)?;
    }
    let role = take_str(req("role")?, "role")?;
    check(
        valid_role(role),
        "role",
        "a role name (a-z, 0-9, inner '.', '_' or '-', at most 64)",
        role,
    )?;
    let scope = match req("scope")? {
        Value::Array(items) => items.clone(),
        _ => return Err(format_err("field \"scope\" must be an array of strings".into())),
    };
    if scope.is_empty() {
        return Err(format_err("field \"scope\" must name at least one scope".into()));
    }
    for (i, s) in scope.iter().enumerate() {
        check(valid_scope(s), "scope", "scopes of the form kind:/path[/*]", s)?;
        if scope[..i].contains(s) {
            return Err(format_err(format!("field \"scope\" lists {s:?} twice")));
        }
    }
    let cap_level = take_uint(req("cap_level")?, "cap_level")?;
    if cap_level > MAX_CAP_LEVEL {
        return Err(format_err(format!(
            "field \"cap_level\" must be at most {MAX_CAP_LEVEL}, got {cap_level}"
        )));
    }
    let valid_until = time(req("valid_until")?, "valid_until")?;
    let issued_at = time(req("issued_at")?, "issued_at")?;
    let not_before = time(req("not_before")?, "not_before")?;
    let issuer_text = take_str(req("issuer")?, "issuer")?;
    let issuer = if is_lower_hex(issuer_text, 32) {
        let mut kid = [0u8; 16];
        kid.copy_from_slice(&unhex(issuer_text));
        Issuer::Kid(kid)
    } else if issuer_text.starts_with("0x") {
        let addr = wallet::parse_address(issuer_text).map_err(|e| format_err(format!("field \"issuer\": {e}")))?;
        Issuer::Wallet(addr)
    } else {
        return Err(format_err(format!(
            "field \"issuer\" must be a key id (32 lowercase hex digits) or a wallet address, got {:?}",
            issuer_text.chars().take(80).collect::<String>()
        )));
    };
    let token_id = take_str(req("token_id")?, "token_id")?;
    check(
        is_lower_hex(token_id, 32),
        "token_id",
        "32 lowercase hex digits",
        token_id,
    )?;
    let revocation_id = take_str(req("revocation_id")?, "revocation_id")?;
    check(
        is_lower_hex(revocation_id, 32),
        "revocation_id",
        "32 lowercase hex digits",
        revocation_id,
    )?;
    let audience = take_str(req("audience")?, "audience")?;
    check(valid_audience(audience), "audience", "a lowercase DNS name", audience)?;
    let device = opt_str("device")?;
    if let Some(d) = &device {
        check(
            valid_device(d),
            "device",
            "a device id (1-128 of A-Z a-z 0-9 . _ : -)",
            d,
        )?;
    }
    let binding = opt_str("binding")?;
    if let Some(b) = &binding {
        check(is_lower_hex(b, 64), "binding", "64 lowercase hex digits", b)?;
    }
    let sig_text = take_str(req("signature")?, "signature")?;
    let want = match issuer {
        Issuer::Kid(_) => 128,
        Issuer::Wallet(_) => 130,
    };
    let sig_hex = sig_text.strip_prefix("0x").unwrap_or("");
    if !is_lower_hex(sig_hex, want) {
        return Err(format_err(format!(
            "field \"signature\" must be 0x and {want} lowercase hex digits for this issuer ({})",
            if want == 128 { "Ed25519" } else { "EIP-191" }
        )));
    }

    let claims = Claims {
        audience: audience.to_string(),
        binding,
        cap_level,
        device,
        effect,
        issued_at,
        issuer: issuer_text.to_string(),
        not_before,
        revocation_id: revocation_id.to_string(),
        role: role.to_string(),
        scope: scope.iter().map(|s| s.to_string()).collect(),
        token_id: token_id.to_string(),
        valid_until,
        wallet: wallet_text,
    };
    let signed = signed_bytes(&members);
    Ok(Parsed {
        claims,
        issuer,
        signed,
        signature: unhex(sig_hex),
    })
}

/// `CONTEXT ‖ JCS(members without "signature")`.
fn signed_bytes(members: &[(&str, Value<'_>)]) -> Vec<u8> {
    let mut sorted: Vec<&(&str, Value<'_>)> = members.iter().filter(|(k, _)| *k != "signature").collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(CONTEXT);
    out.push(b'{');
    for (i, (k, v)) in sorted.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'"');
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b"\":");
        match v {
            Value::Str(s) => {
                out.push(b'"');
                out.extend_from_slice(s.as_bytes());
                out.push(b'"');
            }
            Value::UInt(n) => out.extend_from_slice(n.to_string().as_bytes()),
            Value::Array(items) => {
                out.push(b'[');
                for (j, s) in items.iter().enumerate() {
                    if j > 0 {
                        out.push(b',');
                    }
                    out.push(b'"');
                    out.extend_from_slice(s.as_bytes());
                    out.push(b'"');
                }
                out.push(b']');
            }
        }
    }
    out.push(b'}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_grammar() {
        for ok in ["app:/vpn", "net:/vpn/core", "net:/vpn/*", "app:/*", "x-1:/a.b/c_d/~e"] {
            assert!(valid_scope(ok), "{ok}");
        }
        for bad in [
            "app:/",
            "app:vpn",
            "app:/vpn/",
            "app://vpn",
            "app:/vpn*",
            "app:/*/x",
            "App:/vpn",
            "app:/../x",
            "app:/./x",
            "app:/a b",
            ":/x",
            "app:/vpn/**",
        ] {
            assert!(!valid_scope(bad), "{bad}");
        }
    }

    #[test]
    fn role_and_audience() {
        assert!(valid_role("infra.user") && valid_role("a") && valid_role("ops-2_x"));
        assert!(!valid_role("Infra") && !valid_role(".a") && !valid_role("a..b") && !valid_role("a."));
        assert!(valid_audience("example.org") && valid_audience("localhost"));
        assert!(!valid_audience("Example.org") && !valid_audience("a..b") && !valid_audience("-a.b"));
    }
}
