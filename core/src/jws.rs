//! Compact JWS parsing (RFC 7515 §7.1): size cap first, then three strict base64url segments,
//! a header with an allowlisted `alg`, and a payload that must be a JSON object.
//!
//! Parsing never trusts header members that point elsewhere (`jku`, `jwk`, `x5u`, `x5c`): they
//! are ignored. `crit` is refused because this filter understands no extensions.

use crate::b64;
use crate::error::{AuthError, Denial};
use crate::json;
use crate::json::{Map, Value};

/// Signature algorithms this filter accepts. Anything else, including `none` and HS*, is
/// refused before a key is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256, MGF1-SHA-256, 32-byte salt.
    PS256,
    /// RSASSA-PSS with SHA-384, MGF1-SHA-384, 48-byte salt.
    PS384,
    /// RSASSA-PSS with SHA-512, MGF1-SHA-512, 64-byte salt.
    PS512,
    /// ECDSA on P-256 with SHA-256, raw r‖s signature.
    ES256,
    /// ECDSA on P-384 with SHA-384, raw r‖s signature.
    ES384,
    /// ECDSA on P-521 with SHA-512, raw r‖s signature (66 bytes each).
    ES512,
    /// Ed25519.
    EdDSA,
}

impl Alg {
    /// Parses a JWS `alg` value; case-sensitive as RFC 7515 requires.
    pub fn parse(s: &str) -> Option<Alg> {
        Some(match s {
            "RS256" => Alg::RS256,
            "RS384" => Alg::RS384,
            "RS512" => Alg::RS512,
            "PS256" => Alg::PS256,
            "PS384" => Alg::PS384,
            "PS512" => Alg::PS512,
            "ES256" => Alg::ES256,
            "ES384" => Alg::ES384,
            "ES512" => Alg::ES512,
            "EdDSA" => Alg::EdDSA,
            _ => return None,
        })
    }

    /// The registered name.
    pub fn name(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::RS384 => "RS384",
            Alg::RS512 => "RS512",
            Alg::PS256 => "PS256",
            Alg::PS384 => "PS384",
            Alg::PS512 => "PS512",
            Alg::ES256 => "ES256",
            Alg::ES384 => "ES384",
            Alg::ES512 => "ES512",
            Alg::EdDSA => "EdDSA",
        }
    }
}

/// The parts of the JOSE header the filter uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The signature algorithm.
    pub alg: Alg,
    /// The key id, if any.
    pub kid: Option<String>,
}

/// A parsed, not yet verified, compact JWS.
#[derive(Debug, Clone)]
pub struct Jws<'a> {
    /// The protected header.
    pub header: Header,
    /// The payload, parsed strictly as a JSON object.
    pub claims: Map,
    /// `BASE64URL(header) || '.' || BASE64URL(payload)`, the bytes that were signed.
    pub signing_input: &'a str,
    /// The base64url payload segment, as received (for the payload header).
    pub payload_b64: &'a str,
    /// The decoded payload: the JSON text `claims` were parsed from.
    pub payload: String,
    /// The decoded signature.
    pub signature: Vec<u8>,
}

/// Longest `kid` accepted; real issuers use well under 100 characters.
pub const MAX_KID_LEN: usize = 256;

#[cold]
#[inline(never)]
fn malformed(detail: &str) -> AuthError {
    AuthError::with(Denial::Malformed, detail)
}

/// Parses a compact JWS. `max_len` is checked before anything else is looked at.
pub fn parse(token: &str, max_len: usize) -> Result<Jws<'_>, AuthError> {
    if token.len() > max_len {
        return Err(too_large(token.len(), max_len));
    }
    // The base64url decoder checks each segment's alphabet, so a stray character is looked for
    // only once a step has failed, to name it: a scan of every token cost ~1 µs per request.
    parse_segments(token).map_err(|e| match token.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
        true => e,
        false => malformed("characters outside base64url"),
    })
}

fn parse_segments(token: &str) -> Result<Jws<'_>, AuthError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(malformed("not three segments"));
    };
    let signing_input = token.get(..h.len() + 1 + p.len()).ok_or_else(|| malformed("segments"))?;
    let header_bytes = b64::decode(h).ok_or_else(|| malformed("header is not base64url"))?;
    let header_map = json::parse_object(&header_bytes).map_err(|e| not_json("header", &e))?;
    let header = parse_header(&header_map)?;
    let payload = b64::decode(p).ok_or_else(|| malformed("payload is not base64url"))?;
    let payload = String::from_utf8(payload).map_err(|e| not_utf8(&e.into_bytes()))?;
    let claims = json::parse_object_text(&payload).map_err(|e| not_json("payload", &e))?;
    let signature = b64::decode(s).ok_or_else(|| malformed("signature is not base64url"))?;
    if signature.is_empty() {
        return Err(AuthError::with(Denial::BadSignature, "empty signature"));
    }
    Ok(Jws { header, claims, signing_input, payload_b64: p, payload, signature })
}

// The refusals and the header checks stay out of line: inlined into `parse` they made a 2.2 KB
// function, and V8's compile memory follows the largest functions (issue 13).

#[cold]
#[inline(never)]
fn too_large(len: usize, max_len: usize) -> AuthError {
    AuthError::with(Denial::TooLarge, format!("{len} bytes > {max_len}"))
}

/// A payload that is not UTF-8: read byte by byte for the JSON error that names the place
/// (a document that is not UTF-8 cannot be valid JSON).
#[cold]
#[inline(never)]
fn not_utf8(payload: &[u8]) -> AuthError {
    match json::parse_object(payload) {
        Err(e) => not_json("payload", &e),
        Ok(_) => malformed("payload is not UTF-8"),
    }
}

#[cold]
#[inline(never)]
fn not_json(segment: &str, e: &dyn std::fmt::Display) -> AuthError {
    malformed(&format!("{segment}: {e}"))
}

#[inline(never)]
fn parse_header(m: &Map) -> Result<Header, AuthError> {
    let alg = match m.get("alg") {
        Some(Value::String(a)) => a,
        Some(_) => return Err(malformed("alg is not a string")),
        None => return Err(malformed("alg missing")),
    };
    let alg = Alg::parse(alg).ok_or_else(|| AuthError::with(Denial::UnsupportedAlg, format!("alg {alg:?}")))?;
    if m.contains_key("crit") {
        return Err(AuthError::with(Denial::UnsupportedAlg, "crit header not supported"));
    }
    if m.contains_key("enc") || m.contains_key("zip") {
        return Err(malformed("JWE header members"));
    }
    if matches!(m.get("b64"), Some(v) if v != &Value::Bool(true)) {
        return Err(AuthError::with(Denial::UnsupportedAlg, "unencoded payload (b64)"));
    }
    let kid = match m.get("kid") {
        None => None,
        Some(Value::String(k)) if k.len() <= MAX_KID_LEN => Some(k.clone()),
        Some(Value::String(_)) => return Err(malformed("kid too long")),
        Some(_) => return Err(malformed("kid is not a string")),
    };
    if let Some(typ) = m.get("typ") {
        if !typ.is_string() {
            return Err(malformed("typ is not a string"));
        }
    }
    Ok(Header { alg, kid })
}

/// Reads `iss` from a payload without verifying anything, to choose the provider.
pub fn issuer(claims: &Map) -> Option<&str> {
    claims.get("iss").and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(json: &str) -> String {
        b64::encode(json.as_bytes())
    }

    fn token(h: &str, p: &str) -> String {
        format!("{}.{}.{}", seg(h), seg(p), b64::encode(b"sig"))
    }

    #[test]
    fn parses_a_well_formed_token() {
        let t = token(r#"{"alg":"RS256","kid":"k1","typ":"JWT"}"#, r#"{"iss":"i","exp":1}"#);
        let j = parse(&t, 8192).unwrap();
        assert_eq!(j.header.alg, Alg::RS256);
        assert_eq!(j.header.kid.as_deref(), Some("k1"));
        assert_eq!(issuer(&j.claims), Some("i"));
        assert_eq!(j.signature, b"sig");
        assert!(t.starts_with(j.signing_input));
        assert_eq!(j.signing_input.matches('.').count(), 1);
    }

    #[test]
    fn size_cap_comes_first() {
        let t = "x".repeat(9000);
        assert_eq!(parse(&t, 8192).unwrap_err().denial, Denial::TooLarge);
    }

    #[test]
    fn refuses_none_and_hmac_in_every_spelling() {
        for alg in ["none", "None", "NONE", "nOnE", "HS256", "HS384", "HS512", "rs256", "es512", "ES521", "RS1"] {
            let t = token(&format!(r#"{{"alg":"{alg}"}}"#), "{}");
            assert_eq!(parse(&t, 8192).unwrap_err().denial, Denial::UnsupportedAlg, "{alg}");
        }
    }

    #[test]
    fn refuses_bad_structure() {
        let h = seg(r#"{"alg":"RS256"}"#);
        let p = seg("{}");
        for t in [
            format!("{h}.{p}"),
            format!("{h}.{p}.c2ln.x"),
            format!("{h}.{p}.c2ln.x.y"),
            format!("{h}.{p}.c2ln="),
            format!("{h} .{p}.c2ln"),
            format!("{h}.{p}.c2l+"),
            format!("{h}.{p}.c2l/"),
            format!("{h}.{p}.é"),
            format!("{h}%2E{p}.c2ln"),
            format!("{h}.{p}.c2ln\n"),
        ] {
            let e = parse(&t, 8192).unwrap_err();
            assert_eq!(e.denial, Denial::Malformed, "{t:?}");
            let stray = t.bytes().any(|b| !b.is_ascii_alphanumeric() && !b"-_.".contains(&b));
            assert_eq!(e.detail == "characters outside base64url", stray, "{t:?}: {}", e.detail);
        }
        assert_eq!(parse(&format!("{h}.{p}."), 8192).unwrap_err().denial, Denial::BadSignature);
    }

    #[test]
    fn a_payload_that_is_not_utf8_is_named_as_json_names_it() {
        let h = seg(r#"{"alg":"RS256"}"#);
        // Named as serde_json names it, at the same place.
        for payload in [&b"{\"a\":\"x\xff\"}"[..], b"{\"a\":\xff}", b"{\"a\":1,\"\xc3\"}", b"{\"a\":\"\xed\xa0\x80\"}"] {
            let want = format!("payload: invalid JSON: {}", serde_json::from_slice::<serde_json::Value>(payload).unwrap_err());
            let t = format!("{h}.{}.c2ln", b64::encode(payload));
            let e = parse(&t, 8192).unwrap_err();
            assert_eq!((e.denial, e.detail.as_str()), (Denial::Malformed, want.as_str()), "{payload:?}");
        }
        // The same text, valid, keeps its non-ASCII strings.
        let t = format!("{h}.{}.c2ln", seg(r#"{"a":"x\u00e9é","b":["ü"]}"#));
        let jws = parse(&t, 8192).unwrap();
        assert_eq!(jws.claims.get("a").and_then(Value::as_str), Some("xéé"));
        assert_eq!(jws.payload, r#"{"a":"x\u00e9é","b":["ü"]}"#);
    }

    #[test]
    fn refuses_bad_header_members() {
        for h in [r#"{"alg":"RS256","crit":["exp"]}"#, r#"{"alg":"RS256","b64":false,"crit":["b64"]}"#] {
            assert_eq!(parse(&token(h, "{}"), 8192).unwrap_err().denial, Denial::UnsupportedAlg);
        }
        for h in [
            r#"{"alg":"RS256","kid":7}"#,
            r#"{"alg":"RS256","alg":"RS256"}"#,
            r#"{"alg":["RS256"]}"#,
            r#"{"alg":"RS256","enc":"A128GCM"}"#,
            r#"{"kid":"x"}"#,
        ] {
            assert_eq!(parse(&token(h, "{}"), 8192).unwrap_err().denial, Denial::Malformed, "{h}");
        }
        let long = format!(r#"{{"alg":"RS256","kid":"{}"}}"#, "a".repeat(MAX_KID_LEN + 1));
        assert_eq!(parse(&token(&long, "{}"), 8192).unwrap_err().denial, Denial::Malformed);
    }

    #[test]
    fn ignores_key_pointing_headers() {
        let h = r#"{"alg":"RS256","jku":"https://evil","jwk":{"kty":"oct"},"x5u":"u","x5c":["a"]}"#;
        let t = token(h, "{}");
        let j = parse(&t, 8192).unwrap();
        assert_eq!(j.header.kid, None);
    }

    #[test]
    fn payload_must_be_a_strict_object() {
        for p in [r#"{"a":1,"a":1}"#, "[]", "nope", r#"{"exp":1e309}"#] {
            let t = token(r#"{"alg":"RS256"}"#, p);
            assert_eq!(parse(&t, 8192).unwrap_err().denial, Denial::Malformed, "{p}");
        }
    }
}
