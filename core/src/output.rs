//! What a verified token adds to the upstream request: the `x-current-user` header (all claims
//! as compact JSON by default, a subset, or one claim), claims copied to headers, and the raw
//! payload header. Every header named here is stripped from the client's request first.

use crate::json::{Map, Value};
use crate::policy::lookup;

/// What the user header holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserFormat {
    /// All verified claims as compact JSON (the default).
    AllClaims,
    /// The listed claims as a compact JSON object (absent claims are left out).
    Subset(Vec<String>),
    /// One claim, rendered like a claim header.
    Claim(String),
}

/// A provider's output settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The user header (default `x-current-user`), or `None` when turned off.
    pub user_header: Option<String>,
    /// What the user header holds.
    pub user_format: UserFormat,
    /// `(header, claim path)` pairs.
    pub claim_headers: Vec<(String, String)>,
    /// Header that receives the base64url payload, as `jwt_authn`'s `forward_payload_header`.
    pub payload_header: Option<String>,
}

impl Default for Output {
    fn default() -> Self {
        Output {
            user_header: Some("x-current-user".into()),
            user_format: UserFormat::AllClaims,
            claim_headers: Vec::new(),
            payload_header: None,
        }
    }
}

/// Renders a claim for a header: strings as they are, numbers and booleans as JSON text, arrays
/// of scalars joined with commas, objects (and arrays holding objects) as compact JSON.
/// `None` for claims that are absent or null.
pub fn render(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(_) | Value::Number(_) => Some(v.to_string()),
        Value::Array(a) if a.iter().all(|x| !x.is_object() && !x.is_array()) => {
            Some(a.iter().filter_map(render).collect::<Vec<_>>().join(","))
        }
        _ => Some(v.to_string()),
    }
}

/// Whether a value can be sent as a header value: no control characters, which Envoy would
/// refuse (and which could split headers). Non-ASCII UTF-8 is allowed.
fn header_safe(s: &str) -> bool {
    // By bytes, as `char::is_control` (Unicode Cc): U+0000-U+001F and U+007F are single bytes,
    // and U+0080-U+009F are C2 80-C2 9F in UTF-8. Every verification checks its payload, so
    // clean 8-byte words are passed over whole; the first word holding a byte below 0x20, 0x7F
    // or 0xC2 sends the rest to the byte-by-byte check.
    const ONES: u64 = 0x0101_0101_0101_0101;
    let b = s.as_bytes();
    // Whether some byte of `x` is below `n` (n <= 0x80); a byte equal to `c` is one below 1
    // in `x ^ (ONES * c)`.
    let has_below = |x: u64, n: u64| x.wrapping_sub(ONES * n) & !x & (ONES << 7) != 0;
    let mut clean = 0;
    for word in b.chunks_exact(8) {
        let Ok(bytes) = <[u8; 8]>::try_from(word) else { break };
        let x = u64::from_le_bytes(bytes);
        if has_below(x, 0x20) || has_below(x ^ (ONES * 0x7f), 1) || has_below(x ^ (ONES * 0xc2), 1) {
            break;
        }
        clean += 8;
    }
    let mut after_c2 = false;
    for &c in b.get(clean..).unwrap_or_default() {
        if c < 0x20 || c == 0x7f || (after_c2 && c < 0xa0) {
            return false;
        }
        after_c2 = c == 0xc2;
    }
    true
}

impl Output {
    /// Every header this output writes, for stripping from the client's request.
    pub fn header_names(&self) -> impl Iterator<Item = &str> {
        self.user_header
            .iter()
            .map(String::as_str)
            .chain(self.claim_headers.iter().map(|(h, _)| h.as_str()))
            .chain(self.payload_header.iter().map(String::as_str))
    }

    /// The user header (name, value) when its value is the token's payload as signed: all
    /// claims asked for, and the payload compact JSON (no whitespace between its tokens) that is
    /// safe as a header value. That is what issuers send. The payload holds every claim, in the issuer's order
    /// and spelling; rendering it again would give the same claims and cost the time of a
    /// serialisation, and a cached token would have to keep the copy (a third of an entry).
    pub fn user_from_payload(&self, payload: &str) -> Option<(String, String)> {
        let name = self.user_header.as_ref()?;
        // Most payloads hold no space at all, and a safe one no tab or line break.
        let compact = !payload.as_bytes().contains(&b' ') || compact_json(payload.as_bytes());
        if self.user_format != UserFormat::AllClaims || !header_safe(payload) || !compact {
            return None;
        }
        Some((name.clone(), payload.to_owned()))
    }

    /// [`Output::user_from_payload`] again for a token that had it (a cache hit): its payload
    /// segment decoded. `None` only for a token that was never verified.
    pub fn user_from_token(&self, token: &str) -> Option<(String, String)> {
        let name = self.user_header.as_ref()?;
        let payload = crate::b64::decode(token.split('.').nth(1)?)?;
        Some((name.clone(), String::from_utf8(payload).ok()?))
    }

    /// The headers to add for a verified token, without the user header when `user` is false
    /// (it comes from the payload). Values that cannot be header values are skipped: JSON
    /// rendering escapes U+0000-U+001F but, as serde_json, leaves U+007F-U+009F as they are, so
    /// a claim holding one of those drops the user header too.
    pub fn headers(&self, claims: &Map, payload_b64: &str, user: bool) -> Vec<(String, String)> {
        let mut out = Vec::with_capacity(1 + self.claim_headers.len());
        if let Some(name) = self.user_header.as_ref().filter(|_| user) {
            let value = match &self.user_format {
                // Only for a payload that is not compact, or not safe as a header value
                // ([`Output::user_from_payload`]).
                UserFormat::AllClaims => Some(Value::Object(claims.clone()).to_string()),
                UserFormat::Subset(names) => {
                    let mut m = Map::new();
                    for n in names {
                        if let Some(v) = lookup(claims, n) {
                            m.insert(n.clone(), v.clone());
                        }
                    }
                    Some(Value::Object(m).to_string())
                }
                UserFormat::Claim(path) => lookup(claims, path).and_then(render),
            };
            if let Some(v) = value.filter(|v| header_safe(v)) {
                out.push((name.clone(), v));
            }
        }
        for (header, path) in &self.claim_headers {
            if let Some(v) = lookup(claims, path).and_then(render).filter(|v| header_safe(v)) {
                out.push((header.clone(), v));
            }
        }
        if let Some(name) = &self.payload_header {
            out.push((name.clone(), payload_b64.to_string()));
        }
        // Cached with the token: no spare capacity (JSON is written into a doubling buffer).
        for (_, v) in &mut out {
            v.shrink_to_fit();
        }
        out.shrink_to_fit();
        out
    }
}

/// Whether valid JSON text has no whitespace outside its strings (JSON strings hold no raw
/// control characters, so a tab or line break anywhere is outside one).
fn compact_json(json: &[u8]) -> bool {
    let (mut in_string, mut escaped) = (false, false);
    for &b in json {
        match b {
            _ if escaped => escaped = false,
            b'\\' if in_string => escaped = true,
            b'"' => in_string = !in_string,
            b' ' if !in_string => return false,
            b'\t' | b'\n' | b'\r' => return false,
            _ => {}
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::json;

    fn claims() -> Map {
        json!({"sub":"u1","username":"andrew","cognito:groups":["a","b"],"org":{"id":7},"n":3,"bad":"x\ny"})
            .as_object()
            .cloned()
            .unwrap()
    }

    #[test]
    fn default_is_all_claims_as_compact_json() {
        let h = Output::default().headers(&claims(), "cGF5", true);
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].0, "x-current-user");
        let parsed: Value = serde_json::from_str(&h[0].1).unwrap();
        assert_eq!(parsed["username"], "andrew");
        assert!(!h[0].1.contains(' ') && !h[0].1.contains('\n'));
    }

    #[test]
    fn header_safe_is_unicode_cc_by_bytes() {
        for c in (0u32..0x3000).chain([0xfeff, 0x1_0000, 0x10_ffff]).filter_map(char::from_u32) {
            for s in [c.to_string(), format!("a{c}"), format!("{c}z"), format!("\u{e9}{c}\u{e9}")] {
                assert_eq!(header_safe(&s), !c.is_control(), "U+{:04X} in {s:?}", c as u32);
            }
            // At every offset of the 8-byte words, after clean words and before more.
            for k in 0..17 {
                let s = format!("{}{c}{}", "a".repeat(k), "é".repeat(9));
                assert_eq!(header_safe(&s), !c.is_control(), "U+{:04X} at {k}", c as u32);
            }
        }
        assert!(header_safe("\u{a0}é\u{2028}") && !header_safe("a\u{9f}"));
    }

    #[test]
    fn compact_json_matches_its_definition() {
        for (doc, want) in [
            (r#"{"a":1}"#, true),
            (r#"{"a":"x y"}"#, true),
            (r#"{"a": 1}"#, false),
            (r#"{"a":"\" ","b":1}"#, true),
            (r#"{"a":"\\" ,"b":1}"#, false),
            ("{\"a\":1}\n", false),
            ("{\"a\":\t1}", false),
        ] {
            assert_eq!(compact_json(doc.as_bytes()), want, "{doc}");
        }
    }

    #[test]
    fn the_payload_is_the_user_header_when_compact_safe_and_all_claims() {
        let o = Output::default();
        let signed = r#"{"z":"a b","y":"q\"x\\","x":[1,{"w":null}]}"#;
        assert_eq!(o.user_from_payload(signed), Some(("x-current-user".into(), signed.into())));
        for p in [r#"{"a": 1}"#, "{\"a\":1}\n", "{\n\"a\":1}", "{\"a\":\t1}", " {}", "{\"a\":\"\u{7f}\"}", "{\"a\":\"\u{85}\"}"] {
            assert_eq!(o.user_from_payload(p), None, "{p:?}");
        }
        let subset = Output { user_format: UserFormat::Subset(vec!["z".into()]), ..Output::default() };
        assert_eq!(subset.user_from_payload(signed), None);
        let off = Output { user_header: None, ..Output::default() };
        assert_eq!(off.user_from_payload(signed), None);
        let token = format!("aGVhZA.{}.c2ln", crate::b64::encode(signed.as_bytes()));
        assert_eq!(o.user_from_token(&token), Some(("x-current-user".into(), signed.into())));
        assert_eq!(off.user_from_token(&token), None);
        // Without the user header, the other headers are still rendered.
        let h = Output { payload_header: Some("x-p".into()), ..Output::default() }.headers(&claims(), "cGF5", false);
        assert_eq!(h, vec![("x-p".to_string(), "cGF5".to_string())]);
    }

    #[test]
    fn subsets_single_claims_and_claim_headers() {
        let o = Output {
            user_header: Some("x-user".into()),
            user_format: UserFormat::Subset(vec!["sub".into(), "missing".into()]),
            claim_headers: vec![
                ("x-groups".into(), "cognito:groups".into()),
                ("x-org".into(), "org".into()),
                ("x-org-id".into(), "org.id".into()),
                ("x-n".into(), "n".into()),
                ("x-bad".into(), "bad".into()),
                ("x-none".into(), "nope".into()),
            ],
            payload_header: Some("x-jwt-payload".into()),
        };
        let h = o.headers(&claims(), "cGF5", true);
        let get = |n: &str| h.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        assert_eq!(get("x-user"), Some(r#"{"sub":"u1"}"#));
        assert_eq!(get("x-groups"), Some("a,b"));
        assert_eq!(get("x-org"), Some(r#"{"id":7}"#));
        assert_eq!(get("x-org-id"), Some("7"));
        assert_eq!(get("x-n"), Some("3"));
        assert_eq!(get("x-bad"), None, "control characters never reach a header");
        assert_eq!(get("x-none"), None);
        assert_eq!(get("x-jwt-payload"), Some("cGF5"));
        assert_eq!(o.header_names().count(), 8);
        let one = Output { user_format: UserFormat::Claim("username".into()), ..Output::default() };
        assert_eq!(one.headers(&claims(), "", true)[0].1, "andrew");
    }
}
