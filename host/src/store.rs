//! The core's host traits implemented on Envoy: shared data ([`EnvoyStore`]), JWKS requests
//! ([`EnvoyHttp`]), and signature verification through the `verify_signature` foreign function
//! ([`EnvoyVerifier`]).

use crate::abi;
use jwt_core::crypto::{HostAnswer, HostVerifier};
use jwt_core::lifecycle::{HttpClient, SetError, SharedStore};
use std::cell::Cell;
use std::time::Duration;

/// Envoy shared data (scoped by `vm_id`).
pub struct EnvoyStore;

impl SharedStore for EnvoyStore {
    fn get(&self, key: &str) -> (Option<Vec<u8>>, u32) {
        abi::get_shared(key).unwrap_or((None, 0))
    }

    fn set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), SetError> {
        match abi::set_shared(key, value, cas) {
            Ok(()) => Ok(()),
            Err(s) if s == abi::CAS_MISMATCH => Err(SetError::CasMismatch),
            Err(_) => Err(SetError::Failed),
        }
    }
}

/// `dispatch_http_call` from the running context. The dispatcher routes the response to that
/// context's `on_http_call_response`.
pub struct EnvoyHttp;

impl HttpClient for EnvoyHttp {
    fn get(&mut self, cluster: &str, authority: &str, path: &str, timeout_ms: u64) -> Result<u32, String> {
        let headers = vec![
            (":method", "GET"),
            (":path", path),
            (":authority", authority),
            (":scheme", "https"),
            ("accept", "application/json"),
            ("user-agent", "envoy-jwt-filter"),
        ];
        let timeout = Duration::from_millis(timeout_ms);
        if let Some(why) = abi::http_call_problem(cluster, &headers, timeout) {
            return Err(why.to_string());
        }
        abi::dispatch_http_call(cluster, &headers, timeout).map_err(|s| format!("status {}", s.0))
    }
}

/// Reads a finished call's `:status` and body (`None` status when the call failed).
pub fn call_response(max_body: usize) -> (Option<u32>, Option<Vec<u8>>) {
    let status = abi::map_value(abi::Map::HttpCallResponseHeaders, ":status")
        .ok()
        .flatten()
        .and_then(|v| std::str::from_utf8(&v).ok().and_then(|s| s.parse().ok()));
    // Read one byte past the limit so an oversized body is seen as oversized.
    let body = abi::buffer(abi::Buffer::HttpCallResponseBody, max_body.saturating_add(1)).ok();
    (status, body)
}

/// Envoy's `verify_signature` foreign function (BoringSSL). The first call that finds it
/// missing turns it off for the life of the VM, so hosts without it cost one probe.
pub struct EnvoyVerifier {
    available: Cell<bool>,
}

impl Default for EnvoyVerifier {
    fn default() -> Self {
        EnvoyVerifier { available: Cell::new(true) }
    }
}

fn put_bytes(out: &mut Vec<u8>, field: u8, data: &[u8]) {
    out.push((field << 3) | 2);
    let mut n = data.len();
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            break;
        }
        out.push(b | 0x80);
    }
    out.extend_from_slice(data);
}

/// Encodes `VerifySignatureArguments { hash_function = 1; public_key = 2; signature = 3;
/// text = 4 }` as protobuf.
pub fn encode_args(hash: &str, spki: &[u8], sig: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + hash.len() + spki.len() + sig.len() + msg.len());
    put_bytes(&mut out, 1, hash.as_bytes());
    put_bytes(&mut out, 2, spki);
    put_bytes(&mut out, 3, sig);
    put_bytes(&mut out, 4, msg);
    out
}

fn varint(b: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*at)?;
        *at += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Decodes `VerifySignatureResult { bool result = 1; string error = 2; }`.
pub fn decode_result(b: &[u8]) -> Option<(bool, String)> {
    let (mut result, mut error) = (false, String::new());
    let mut at = 0;
    while at < b.len() {
        let tag = varint(b, &mut at)?;
        match (tag >> 3, tag & 7) {
            (1, 0) => result = varint(b, &mut at)? != 0,
            (2, 2) => {
                let len = usize::try_from(varint(b, &mut at)?).ok()?;
                let s = b.get(at..at.checked_add(len)?)?;
                error = String::from_utf8_lossy(s).into_owned();
                at += len;
            }
            (_, 0) => {
                varint(b, &mut at)?;
            }
            (_, 2) => {
                let len = usize::try_from(varint(b, &mut at)?).ok()?;
                at = at.checked_add(len)?;
            }
            _ => return None,
        }
    }
    Some((result, error))
}

impl EnvoyVerifier {
    /// Whether the host has answered (or not yet been asked).
    pub fn available(&self) -> bool {
        self.available.get()
    }
}

impl HostVerifier for EnvoyVerifier {
    fn verify(&self, hash: &str, spki: &[u8], sig: &[u8], msg: &[u8]) -> HostAnswer {
        if !self.available.get() {
            return HostAnswer::Unavailable;
        }
        match abi::call_foreign("verify_signature", &encode_args(hash, spki, sig, msg)) {
            Ok(out) => match decode_result(&out) {
                Some((true, _)) => HostAnswer::Valid,
                Some((false, _)) => HostAnswer::Invalid,
                None => HostAnswer::Unavailable,
            },
            Err(s) if s == abi::NOT_FOUND => {
                self.available.set(false);
                if jwt_core::crypto::PURE_ECDSA {
                    log::info!("jwt-filter: the host has no verify_signature function; verifying signatures in pure Rust");
                } else {
                    log::warn!(
                        "jwt-filter: the host has no verify_signature function; verifying RS* in pure Rust, but \
                         ES256/ES384/ES512 need it (this build has no pure-Rust ECDSA): those tokens get 500 no_verifier"
                    );
                }
                HostAnswer::Unavailable
            }
            Err(_) => HostAnswer::Unavailable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protobuf_codec() {
        let a = encode_args("sha256", &[1, 2], &[3; 200], b"m");
        assert_eq!(&a[..8], &[0x0a, 6, b's', b'h', b'a', b'2', b'5', b'6']);
        assert_eq!(&a[8..12], &[0x12, 2, 1, 2]);
        assert_eq!(&a[12..15], &[0x1a, 0xc8, 0x01], "200 as a varint");
        assert_eq!(decode_result(&[0x08, 1]), Some((true, String::new())));
        assert_eq!(decode_result(&[]), Some((false, String::new())));
        assert_eq!(decode_result(&[0x12, 2, b'n', b'o']), Some((false, "no".into())));
        assert_eq!(decode_result(&[0x12, 9, b'n']), None);
    }
}
