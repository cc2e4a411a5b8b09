//! Strict base64url (RFC 7515 §2): URL-safe alphabet, no padding, no stray bits.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Decodes unpadded base64url. Refuses padding, the standard alphabet's `+` and `/`,
/// whitespace, and non-canonical trailing bits.
pub fn decode(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s).ok()
}

/// Decodes a JWK member. JWKs come from the operator's issuer, not the client, so a trailing
/// `=` padding some issuers emit is tolerated; the alphabet is still base64url.
pub fn decode_lenient(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok()
}

/// Encodes unpadded base64url.
pub fn encode(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_decoding() {
        assert_eq!(decode("AQAB"), Some(vec![1, 0, 1]));
        assert_eq!(decode("_-8"), Some(vec![0xff, 0xef]));
        assert_eq!(decode("AQAB="), None, "padding");
        assert_eq!(decode("+/8"), None, "standard alphabet");
        assert_eq!(decode("AQ AB"), None, "whitespace");
        assert_eq!(decode("AR"), None, "non-canonical trailing bits");
        assert_eq!(decode_lenient("AQAB=="), Some(vec![1, 0, 1]));
        assert_eq!(decode_lenient("AQ=="), Some(vec![1]));
    }
}
