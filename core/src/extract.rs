//! Where tokens live in a request: headers with a scheme prefix (default
//! `Authorization: Bearer`), query parameters, and cookies.
//!
//! Extraction only finds candidate strings; it never decodes them. A header that appears twice
//! is ambiguous and refused, so a proxy in front cannot be tricked into checking one token while
//! the upstream reads the other. For the same reason query parameter names are compared the way
//! an upstream reads them (percent-decoded), and a name that cannot be decoded is refused.

use crate::error::{AuthError, Denial};

/// One place a provider looks for its token.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TokenSource {
    /// A request header (lower-case name) whose value starts with `prefix` (compared
    /// case-insensitively) followed by at least one space. An empty prefix takes the whole value.
    Header {
        /// Header name, lower-case.
        name: String,
        /// Scheme such as `Bearer`, without the trailing space; may be empty.
        prefix: String,
    },
    /// A query parameter; removed from the path before the request goes upstream.
    Param(String),
    /// A cookie.
    Cookie(String),
}

/// The three ways RFC 6750 §2 lets a client send a token (a cookie counts as its own); a client
/// must use only one per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// A request header.
    Header,
    /// A query parameter.
    Query,
    /// A cookie.
    Cookie,
}

impl TokenSource {
    /// The default source: `Authorization: Bearer <token>`.
    pub fn bearer() -> TokenSource {
        TokenSource::Header { name: "authorization".into(), prefix: "Bearer".into() }
    }

    /// How the client sent a token found here.
    pub fn method(&self) -> Method {
        match self {
            TokenSource::Header { .. } => Method::Header,
            TokenSource::Param(_) => Method::Query,
            TokenSource::Cookie(_) => Method::Cookie,
        }
    }
}

/// A request as the core sees it. Header names are lower-case (Envoy's form); values are raw
/// bytes because clients may send anything.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    /// `:method`.
    pub method: &'a str,
    /// `:path`, including the query string.
    pub path: &'a str,
    /// All request headers, in order, duplicates kept (borrowed from the host's buffer).
    pub headers: &'a [(&'a str, &'a [u8])],
}

impl<'a> RequestView<'a> {
    /// All values of a header.
    pub fn values(&self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| *v)
    }

    /// The single value of a header, if it appears exactly once and is valid UTF-8.
    pub fn single(&self, name: &'a str) -> Option<&'a str> {
        let mut it = self.values(name);
        let first = it.next()?;
        if it.next().is_some() {
            return None;
        }
        std::str::from_utf8(first).ok()
    }

    /// The path without its query string.
    pub fn path_only(&self) -> &'a str {
        self.path.split_once('?').map_or(self.path, |(p, _)| p)
    }
}

/// A token found in a request, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found<'a> {
    /// The token text.
    pub token: &'a str,
    /// The source it came from.
    pub source: &'a TokenSource,
}

/// Looks for a token in one source. `Ok(None)` means the source is absent (or holds another
/// scheme, such as `Basic`); `Err` means it is present but unusable.
pub fn find<'a>(req: &RequestView<'a>, source: &'a TokenSource) -> Result<Option<Found<'a>>, AuthError> {
    let token = match source {
        TokenSource::Header { name, prefix } => from_header(req, name, prefix)?,
        TokenSource::Param(name) => from_query(req.path, name)?,
        TokenSource::Cookie(name) => from_cookies(req, name)?,
    };
    Ok(token.map(|token| Found { token, source }))
}

fn from_header<'a>(req: &RequestView<'a>, name: &str, prefix: &str) -> Result<Option<&'a str>, AuthError> {
    let mut values = req.headers.iter().filter(|(n, _)| *n == name);
    let Some((_, first)) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(AuthError::with(Denial::Ambiguous, format!("header {name} appears more than once")));
    }
    let Ok(value) = std::str::from_utf8(first) else {
        return Err(AuthError::with(Denial::Malformed, format!("header {name} is not UTF-8")));
    };
    let value = value.trim_matches(|c| c == ' ' || c == '\t');
    if prefix.is_empty() {
        return header_token(value, name).map(Some);
    }
    let Some(head) = value.get(..prefix.len()) else { return Ok(None) };
    if !head.eq_ignore_ascii_case(prefix) {
        return Ok(None);
    }
    let rest = value.get(prefix.len()..).unwrap_or_default();
    if rest.is_empty() {
        return Err(AuthError::with(Denial::Malformed, format!("{prefix} scheme without a token")));
    }
    let Some(token) = rest.strip_prefix([' ', '\t']) else {
        // "Bearerabc": another scheme that merely starts with the same letters.
        return Ok(None);
    };
    header_token(token.trim_start_matches([' ', '\t']), name).map(Some)
}

/// A token taken from a header value. A comma means the header was sent more than once and a
/// proxy joined the lines (Envoy's HTTP/1 codec joins a repeated `Authorization` into one value,
/// as RFC 9110 §5.3 allows), so this is the two-headers case; a JWS never contains a comma.
fn header_token<'a>(token: &'a str, name: &str) -> Result<&'a str, AuthError> {
    if token.contains(',') {
        return Err(AuthError::with(Denial::Ambiguous, format!("header {name} holds comma-joined values")));
    }
    non_empty(token, name)
}

fn non_empty<'a>(token: &'a str, place: &str) -> Result<&'a str, AuthError> {
    if token.is_empty() {
        Err(AuthError::with(Denial::Malformed, format!("empty token in {place}")))
    } else {
        Ok(token)
    }
}

/// Whether a raw query parameter name, once decoded as an upstream decodes it (`%XX` escapes,
/// `+` as a space), is `name`. `None` when the name holds a broken escape.
fn name_is(raw: &str, name: &str) -> Option<bool> {
    let raw = raw.as_bytes();
    let want = name.as_bytes();
    let (mut i, mut n) = (0usize, 0usize);
    let mut same = true;
    while let Some(&b) = raw.get(i) {
        let byte = match b {
            b'%' => {
                let hex = |at: usize| raw.get(at).and_then(|c| char::from(*c).to_digit(16));
                let byte = hex(i + 1)? * 16 + hex(i + 2)?;
                i += 3;
                u8::try_from(byte).ok()?
            }
            b'+' => {
                i += 1;
                b' '
            }
            _ => {
                i += 1;
                b
            }
        };
        same &= want.get(n) == Some(&byte);
        n += 1;
    }
    Some(same && n == want.len())
}

fn pair_name(pair: &str) -> &str {
    pair.split_once('=').map_or(pair, |(k, _)| k)
}

// Query and cookie sources stay out of line (the default source is a header): inlined into
// `find` they made a 3.7 KB function, and V8's compile memory follows the largest functions
// (issue 13).
#[inline(never)]
fn from_query<'a>(path: &'a str, name: &str) -> Result<Option<&'a str>, AuthError> {
    let Some((_, query)) = path.split_once('?') else { return Ok(None) };
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    let mut found = None;
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let Some(matches) = name_is(k, name) else {
            return Err(AuthError::with(Denial::MalformedQuery, format!("broken percent escape in query parameter name {k:?}")));
        };
        if matches {
            if found.is_some() {
                return Err(AuthError::with(Denial::Ambiguous, format!("query parameter {name} appears more than once")));
            }
            found = Some(non_empty(v, name)?);
        }
        // Some upstreams (Python before 3.9.2, Go before 1.17) also split on ';': the token
        // parameter hidden behind one would reach them unverified.
        if pair.split(';').skip(1).any(|piece| name_is(pair_name(piece), name) == Some(true)) {
            return Err(AuthError::with(Denial::Ambiguous, format!("query parameter {name} after a ';'")));
        }
    }
    Ok(found)
}

/// The path with every occurrence of query parameter `name` removed, however its name is
/// percent-encoded.
pub fn remove_param(path: &str, name: &str) -> String {
    let Some((base, query)) = path.split_once('?') else { return path.to_string() };
    let kept: Vec<&str> = query.split('&').filter(|pair| name_is(pair_name(pair), name) != Some(true)).collect();
    if kept.is_empty() || kept == [""] {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    }
}

#[inline(never)]
fn from_cookies<'a>(req: &RequestView<'a>, name: &str) -> Result<Option<&'a str>, AuthError> {
    let mut found = None;
    for header in req.values("cookie") {
        let Ok(header) = std::str::from_utf8(header) else {
            return Err(AuthError::with(Denial::Malformed, "header cookie is not UTF-8"));
        };
        for pair in header.split(';') {
            let Some((k, v)) = pair.split_once('=') else { continue };
            if k.trim_matches([' ', '\t']) == name {
                if found.is_some() {
                    return Err(AuthError::with(Denial::Ambiguous, format!("cookie {name} appears more than once")));
                }
                found = Some(non_empty(v.trim_matches([' ', '\t']).trim_matches('"'), name)?);
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(path: &'a str, headers: &'a [(&'a str, &'a [u8])]) -> RequestView<'a> {
        RequestView { method: "GET", path, headers }
    }

    fn h<'a>(pairs: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a [u8])> {
        pairs.iter().map(|(k, v)| (*k, v.as_bytes())).collect()
    }

    fn bearer<'a>(headers: &'a [(&'a str, &'a [u8])]) -> Result<Option<&'a str>, Denial> {
        let src = Box::leak(Box::new(TokenSource::bearer()));
        find(&req("/", headers), src).map(|f| f.map(|f| f.token)).map_err(|e| e.denial)
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer(&h(&[("authorization", "Bearer abc")])), Ok(Some("abc")));
        assert_eq!(bearer(&h(&[("authorization", "bearer abc")])), Ok(Some("abc")));
        assert_eq!(bearer(&h(&[("authorization", "BEARER   abc")])), Ok(Some("abc")));
    }

    #[test]
    fn other_schemes_and_absence_are_missing() {
        assert_eq!(bearer(&h(&[])), Ok(None));
        assert_eq!(bearer(&h(&[("authorization", "Basic dXNlcjpwYXNz")])), Ok(None));
        assert_eq!(bearer(&h(&[("authorization", "Bearerabc")])), Ok(None));
        assert_eq!(bearer(&h(&[("x-other", "Bearer abc")])), Ok(None));
    }

    #[test]
    fn unusable_values_are_refused() {
        assert_eq!(bearer(&h(&[("authorization", "Bearer")])), Err(Denial::Malformed));
        assert_eq!(bearer(&h(&[("authorization", "Bearer a"), ("authorization", "Bearer b")])), Err(Denial::Ambiguous));
        let non_utf8: Vec<(&str, &[u8])> = vec![("authorization", b"Bearer \xff\xfe")];
        assert_eq!(bearer(&non_utf8), Err(Denial::Malformed));
        // Inner whitespace stays in the token, and the JWS parser refuses it.
        assert_eq!(bearer(&h(&[("authorization", "Bearer a b")])), Ok(Some("a b")));
    }

    #[test]
    fn headers_joined_by_a_proxy_are_ambiguous() {
        // Envoy's HTTP/1 codec turns two Authorization lines into one comma-joined value.
        assert_eq!(bearer(&h(&[("authorization", "Bearer a.b.c,Bearer d.e.f")])), Err(Denial::Ambiguous));
        assert_eq!(bearer(&h(&[("authorization", "Bearer a.b.c, Bearer d.e.f")])), Err(Denial::Ambiguous));
        // Another scheme first: not a bearer token at all.
        assert_eq!(bearer(&h(&[("authorization", "Basic dXNlcg==,Bearer a.b.c")])), Ok(None));
        let src = TokenSource::Header { name: "x-api-token".into(), prefix: String::new() };
        let hs = h(&[("x-api-token", "a.b.c,d.e.f")]);
        assert_eq!(find(&req("/", &hs), &src).unwrap_err().denial, Denial::Ambiguous);
    }

    #[test]
    fn query_parameters() {
        let src = TokenSource::Param("access_token".into());
        let found = |p: &'static str| find(&req(p, &[]), &src).map(|f| f.map(|f| f.token)).map_err(|e| e.denial);
        assert_eq!(found("/a?x=1&access_token=tok&y=2"), Ok(Some("tok")));
        assert_eq!(found("/a?access_token=tok#frag"), Ok(Some("tok")));
        assert_eq!(found("/a?x=1"), Ok(None));
        assert_eq!(found("/a"), Ok(None));
        assert_eq!(found("/a?access_token="), Err(Denial::Malformed));
        assert_eq!(found("/a?access_token=a&access_token=b"), Err(Denial::Ambiguous));
        assert_eq!(remove_param("/a?x=1&access_token=tok&y=2", "access_token"), "/a?x=1&y=2");
        assert_eq!(remove_param("/a?access_token=tok", "access_token"), "/a");
        assert_eq!(remove_param("/a", "access_token"), "/a");
    }

    #[test]
    fn query_names_are_compared_decoded() {
        let src = TokenSource::Param("access_token".into());
        let found = |p: &'static str| find(&req(p, &[]), &src).map(|f| f.map(|f| f.token)).map_err(|e| e.denial);
        assert_eq!(found("/a?access%5Ftoken=tok"), Ok(Some("tok")));
        assert_eq!(found("/a?%61ccess_token=tok"), Ok(Some("tok")));
        assert_eq!(found("/a?access%5ftoken=tok&x=1"), Ok(Some("tok")), "lower-case hex");
        assert_eq!(found("/a?access_token=A&access%5Ftoken=B"), Err(Denial::Ambiguous));
        assert_eq!(found("/a?access%5Ftoken=A&%61ccess_token=B"), Err(Denial::Ambiguous));
        assert_eq!(found("/a?access_token2=tok&access_toke=x&xaccess_token=y"), Ok(None));
        assert_eq!(found("/a?access%20token=tok"), Ok(None));
        for broken in ["/a?access%5=tok", "/a?x%zz=1&access_token=tok", "/a?%=1", "/a?a%2", "/a?%C3%28=1"] {
            let r = found(broken);
            if broken.contains("%C3%28") {
                assert_eq!(r, Ok(None), "decodes to bytes, just not UTF-8: not our name");
            } else {
                assert_eq!(r, Err(Denial::MalformedQuery), "{broken}");
            }
        }
        // Behind a ';' (a separator to some upstreams): refused, whatever the rest holds.
        assert_eq!(found("/a?x=1;access_token=B&access_token=A"), Err(Denial::Ambiguous));
        assert_eq!(found("/a?x=1;%61ccess_token=B"), Err(Denial::Ambiguous));
        assert_eq!(found("/a?x=a;b&access_token=A"), Ok(Some("A")), "a ';' in another value is fine");
        // A broken escape in a value is the value's business (the token parser refuses it).
        assert_eq!(found("/a?x=%zz&access_token=tok"), Ok(Some("tok")));
        assert_eq!(remove_param("/a?x=1&access%5Ftoken=A&y=2&%61ccess_token=B", "access_token"), "/a?x=1&y=2");
        assert_eq!(remove_param("/a?access%5Ftoken=A", "access_token"), "/a");
        assert_eq!(remove_param("/a?access%5Ftokens=A", "access_token"), "/a?access%5Ftokens=A");
    }

    #[test]
    fn cookies() {
        let src = TokenSource::Cookie("id_token".into());
        let hs = h(&[("cookie", "a=1; id_token=tok; b=2")]);
        assert_eq!(find(&req("/", &hs), &src).unwrap().map(|f| f.token), Some("tok"));
        let dup = h(&[("cookie", "id_token=a"), ("cookie", "id_token=b")]);
        assert_eq!(find(&req("/", &dup), &src).unwrap_err().denial, Denial::Ambiguous);
        let none = h(&[("cookie", "a=1")]);
        assert_eq!(find(&req("/", &none), &src).unwrap(), None);
    }

    #[test]
    fn cookie_names_are_trimmed_and_non_utf8_is_refused() {
        let src = TokenSource::Cookie("id_token".into());
        let hs = h(&[("cookie", "a=1;id_token = tok ;b=2")]);
        assert_eq!(find(&req("/", &hs), &src).unwrap().map(|f| f.token), Some("tok"));
        let hs = h(&[("cookie", "a=1;\tid_token=tok")]);
        assert_eq!(find(&req("/", &hs), &src).unwrap().map(|f| f.token), Some("tok"));
        let dup = h(&[("cookie", "id_token=a; id_token =b")]);
        assert_eq!(find(&req("/", &dup), &src).unwrap_err().denial, Denial::Ambiguous);
        let raw: Vec<(&str, &[u8])> = vec![("cookie", b"a=\xff\xfe; id_token=tok")];
        assert_eq!(find(&req("/", &raw), &src).unwrap_err().denial, Denial::Malformed);
        let raw: Vec<(&str, &[u8])> = vec![("cookie", b"a=1"), ("cookie", b"b=\xc3")];
        assert_eq!(find(&req("/", &raw), &src).unwrap_err().denial, Denial::Malformed, "any cookie line");
    }
}
