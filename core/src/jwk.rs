//! The JWKS model: parsing a key set (RFC 7517), preparing each usable key once (the DER
//! SubjectPublicKeyInfo for host crypto, Montgomery constants or curve points for pure Rust),
//! and pinning which algorithms each key may verify.

use crate::b64;
use crate::crypto::rsa::RsaPublicKey;
use crate::crypto::{EcKey, KeyMaterial};
use crate::der::{self, Curve};
use crate::json::{Map, Value};
use crate::jws::Alg;
use std::fmt;

/// Most keys kept from one JWKS document; real issuers publish two to four.
pub const MAX_KEYS: usize = 64;

/// One usable key.
#[derive(Debug, Clone)]
pub struct Jwk {
    /// `kid`, if the JWK has one.
    pub kid: Option<String>,
    /// The JWK's `alg`, if it pins one.
    pub alg: Option<Alg>,
    /// The prepared key.
    pub material: KeyMaterial,
    /// DER SubjectPublicKeyInfo for the host path (RSA and EC keys).
    pub spki: Option<Vec<u8>>,
}

impl Jwk {
    /// Whether this key may verify a token signed with `alg`: the key type fixes the algorithm
    /// family, and a JWK `alg` fixes it exactly.
    pub fn allows(&self, alg: Alg) -> bool {
        if let Some(pinned) = self.alg {
            if pinned != alg {
                return false;
            }
        }
        self.material.fits(alg)
    }
}

/// A parsed key set.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    /// The usable keys, in document order.
    pub keys: Vec<Jwk>,
    /// Keys that were skipped, with the reason (for the log).
    pub skipped: Vec<String>,
}

/// Why a JWKS document was refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksError {
    /// Not JSON, or not an object with a `keys` array.
    NotJwks(String),
    /// Valid JWKS, but no key this filter can use.
    NoUsableKeys(Vec<String>),
}

impl fmt::Display for JwksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwksError::NotJwks(e) => write!(f, "not a JWKS: {e}"),
            JwksError::NoUsableKeys(why) if why.is_empty() => write!(f, "no keys"),
            JwksError::NoUsableKeys(why) => write!(f, "no usable keys ({})", why.join("; ")),
        }
    }
}

impl KeySet {
    /// Parses a JWKS document (`{"keys": [...]}`), or a single JWK. Unusable keys are skipped
    /// and listed; a set with no usable key is an error.
    pub fn parse(bytes: &[u8]) -> Result<KeySet, JwksError> {
        let doc = crate::json::parse(bytes).map_err(|e| JwksError::NotJwks(e.to_string()))?;
        let Value::Object(doc) = doc else {
            return Err(JwksError::NotJwks("not an object".into()));
        };
        let single;
        let list: &[Value] = match doc.get("keys") {
            Some(Value::Array(keys)) => keys,
            Some(_) => return Err(JwksError::NotJwks("keys is not an array".into())),
            None if doc.contains_key("kty") => {
                single = [Value::Object(doc.clone())];
                &single
            }
            None => return Err(JwksError::NotJwks("no keys member".into())),
        };
        let mut set = KeySet::default();
        for (i, k) in list.iter().enumerate() {
            if set.keys.len() == MAX_KEYS {
                set.skipped.push(format!("keys after the first {MAX_KEYS} ignored"));
                break;
            }
            match parse_key(k) {
                Ok(jwk) => set.keys.push(jwk),
                Err(why) => {
                    let kid = k.get("kid").and_then(Value::as_str).unwrap_or("-");
                    set.skipped.push(format!("key #{i} kid={}: {why}", crate::error::sanitize(kid, 64)));
                }
            }
        }
        if set.keys.is_empty() {
            return Err(JwksError::NoUsableKeys(set.skipped));
        }
        Ok(set)
    }

    /// Keys that may verify a token with this `kid` and `alg`, in document order. The
    /// authenticator uses the first (a repeated `kid` names its first key that allows the alg),
    /// and verifies a token without `kid` only when exactly one key allows its `alg`.
    pub fn candidates<'a>(&'a self, kid: Option<&'a str>, alg: Alg) -> impl Iterator<Item = &'a Jwk> {
        self.keys.iter().filter(move |k| match kid {
            Some(kid) => k.kid.as_deref() == Some(kid),
            None => true,
        } && k.allows(alg))
    }

    /// Whether any key has this `kid`.
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }
}

fn member<'a>(m: &'a Map, name: &str) -> Result<Option<&'a str>, String> {
    match m.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("{name} is not a string")),
    }
}

fn bytes(m: &Map, name: &str) -> Result<Vec<u8>, String> {
    let s = member(m, name)?.ok_or_else(|| format!("{name} missing"))?;
    b64::decode_lenient(s).ok_or_else(|| format!("{name} is not base64url"))
}

// The key-type arms and `parse_key` stay out of line: inlined into `KeySet::parse` they made a
// 5.4 KB function, and V8's compile memory follows the largest functions (issue 13).
#[inline(never)]
fn rsa_key(m: &Map) -> Result<(KeyMaterial, Option<Vec<u8>>), String> {
    let n = bytes(m, "n")?;
    let e = bytes(m, "e")?;
    let key = RsaPublicKey::new(&n, &e).map_err(|e| format!("RSA key refused: {e:?}"))?;
    Ok((KeyMaterial::Rsa(key), Some(der::rsa_spki(&n, &e))))
}

#[inline(never)]
fn ec_key(m: &Map) -> Result<(KeyMaterial, Option<Vec<u8>>), String> {
    let curve = match member(m, "crv")? {
        Some("P-256") => Curve::P256,
        Some("P-384") => Curve::P384,
        Some("P-521") => Curve::P521,
        other => return Err(format!("crv {other:?} not supported")),
    };
    let x = bytes(m, "x")?;
    let y = bytes(m, "y")?;
    let key = EcKey::new(curve, &x, &y).ok_or("EC point invalid")?;
    Ok((KeyMaterial::Ec(key), Some(der::ec_spki(curve, &x, &y))))
}

#[inline(never)]
fn okp_key(m: &Map) -> Result<(KeyMaterial, Option<Vec<u8>>), String> {
    if member(m, "crv")? != Some("Ed25519") {
        return Err("only the Ed25519 OKP curve is supported".into());
    }
    let x = bytes(m, "x")?;
    let pk = ed25519_compact::PublicKey::from_slice(&x).map_err(|_| "Ed25519 key invalid")?;
    Ok((KeyMaterial::Ed25519(pk), None))
}

#[inline(never)]
fn parse_key(v: &Value) -> Result<Jwk, String> {
    let m = v.as_object().ok_or("not an object")?;
    if let Some(u) = member(m, "use")? {
        if u != "sig" {
            return Err(format!("use is {u:?}, not \"sig\""));
        }
    }
    if let Some(ops) = m.get("key_ops") {
        let ok = ops.as_array().is_some_and(|a| a.iter().any(|o| o == "verify"));
        if !ok {
            return Err("key_ops lacks \"verify\"".into());
        }
    }
    let alg = match member(m, "alg")? {
        None => None,
        Some(a) => Some(Alg::parse(a).ok_or_else(|| format!("alg {a:?} not supported"))?),
    };
    let kid = member(m, "kid")?.map(str::to_owned);
    let kty = member(m, "kty")?.ok_or("kty missing")?;
    let (material, spki) = match kty {
        "RSA" => rsa_key(m)?,
        "EC" => ec_key(m)?,
        "OKP" => okp_key(m)?,
        other => return Err(format!("kty {other:?} not supported")),
    };
    let jwk = Jwk { kid, alg, material, spki };
    if let Some(a) = alg {
        if !jwk.allows(a) {
            return Err(format!("alg {} does not fit kty {kty}", a.name()));
        }
    }
    Ok(jwk)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const RSA_N: &str = "u1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0_IzW7yWR7QkrmBL7jTKEn5u-qKhbwKfBstIs-bMY2Zkp18gnTxKLxoS2tFczGkPLPgizskuemMghRniWaoLcyehkd3qqGElvW_VDL5AaWTg0nLVkjRo9z-40RQzuVaE8AkAFmxZzow3x-VJYKdjykkJ0iT9wCS0DRTXu269V264Vf_3jvredZiKRkgwlL9xNAwxXFg0x_XFw005UWVRIkdgcKWTjpBP2dPwVZ4WWC-9aGVd-Gyn1o0CLelf4rEjGoXbAAEgAqeGUxrcIlbjXfbcmw";

    #[test]
    fn parses_a_cognito_style_set() {
        let doc = format!(
            r#"{{"keys":[{{"alg":"RS256","e":"AQAB","kid":"k1","kty":"RSA","n":"{RSA_N}","use":"sig"}},
                {{"kty":"oct","k":"c2VjcmV0","kid":"h"}}]}}"#
        );
        let set = KeySet::parse(doc.as_bytes()).unwrap();
        assert_eq!(set.keys.len(), 1);
        assert_eq!(set.skipped.len(), 1);
        assert!(set.skipped[0].contains("oct"));
        let k = &set.keys[0];
        assert!(k.allows(Alg::RS256));
        assert!(!k.allows(Alg::PS256), "JWK alg pins RS256");
        assert!(!k.allows(Alg::ES256));
        assert_eq!(set.candidates(Some("k1"), Alg::RS256).count(), 1);
        assert_eq!(set.candidates(Some("k2"), Alg::RS256).count(), 0);
        assert_eq!(set.candidates(None, Alg::RS256).count(), 1);
        assert!(set.has_kid("k1"));
    }

    #[test]
    fn refuses_sets_without_usable_keys() {
        assert!(matches!(KeySet::parse(b"nope"), Err(JwksError::NotJwks(_))));
        assert!(matches!(KeySet::parse(b"[]"), Err(JwksError::NotJwks(_))));
        assert!(matches!(KeySet::parse(br#"{"keys":{}}"#), Err(JwksError::NotJwks(_))));
        assert_eq!(KeySet::parse(br#"{"keys":[]}"#).unwrap_err(), JwksError::NoUsableKeys(vec![]));
        let weak = r#"{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}"#;
        assert!(matches!(KeySet::parse(weak.as_bytes()), Err(JwksError::NoUsableKeys(_))));
        let enc = format!(r#"{{"keys":[{{"kty":"RSA","n":"{RSA_N}","e":"AQAB","use":"enc"}}]}}"#);
        assert!(matches!(KeySet::parse(enc.as_bytes()), Err(JwksError::NoUsableKeys(_))));
        let bad_alg = format!(r#"{{"keys":[{{"kty":"RSA","n":"{RSA_N}","e":"AQAB","alg":"ES256"}}]}}"#);
        assert!(matches!(KeySet::parse(bad_alg.as_bytes()), Err(JwksError::NoUsableKeys(_))));
        let hs = format!(r#"{{"keys":[{{"kty":"RSA","n":"{RSA_N}","e":"AQAB","alg":"HS256"}}]}}"#);
        assert!(matches!(KeySet::parse(hs.as_bytes()), Err(JwksError::NoUsableKeys(_))));
    }

    #[test]
    fn refuses_points_off_the_curve() {
        let x = b64::encode(&[1u8; 32]);
        let doc = format!(r#"{{"kty":"EC","crv":"P-256","x":"{x}","y":"{x}"}}"#);
        assert!(matches!(KeySet::parse(doc.as_bytes()), Err(JwksError::NoUsableKeys(_))));
    }

    #[test]
    fn accepts_a_single_jwk() {
        let doc = format!(r#"{{"kty":"RSA","n":"{RSA_N}","e":"AQAB"}}"#);
        let set = KeySet::parse(doc.as_bytes()).unwrap();
        assert!(set.keys[0].allows(Alg::PS512), "no JWK alg: any RSA alg");
        assert_eq!(set.keys[0].spki.as_ref().map(Vec::len), Some(294));
    }
}
