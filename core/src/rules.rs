//! Which requirement applies to a request: an ordered list of rules (path prefix, exact or
//! regex; optional methods and headers), first match wins, else the default requirement. Also
//! the CORS preflight test.

use crate::extract::RequestView;
use crate::policy::Authz;

/// How a rule matches the path (query string excluded).
#[derive(Debug, Clone)]
pub enum PathMatch {
    /// The path starts with this.
    Prefix(String),
    /// The path is exactly this.
    Exact(String),
    /// The whole path matches this regex.
    Regex(crate::regex::Regex),
}

/// How a rule matches a header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderMatch {
    /// The header is present (or, with `false`, absent).
    Present(bool),
    /// The header appears once with exactly this value.
    Exact(String),
    /// The header appears once and starts with this.
    Prefix(String),
}

/// A rule's match conditions. All must hold.
#[derive(Debug, Clone)]
pub struct Match {
    /// Path condition.
    pub path: PathMatch,
    /// Upper-case methods; empty matches any.
    pub methods: Vec<String>,
    /// `(lower-case name, condition)` pairs.
    pub headers: Vec<(String, HeaderMatch)>,
}

impl Match {
    /// Whether a request matches.
    pub fn matches(&self, req: &RequestView<'_>) -> bool {
        let path = req.path_only();
        let path_ok = match &self.path {
            PathMatch::Prefix(p) => path.starts_with(p.as_str()),
            PathMatch::Exact(p) => path == p,
            PathMatch::Regex(r) => r.is_full_match(path),
        };
        path_ok
            && (self.methods.is_empty() || self.methods.iter().any(|m| m == req.method))
            && self.headers.iter().all(|(name, cond)| match cond {
                HeaderMatch::Present(want) => req.values(name).next().is_some() == *want,
                HeaderMatch::Exact(v) => req.single(name) == Some(v.as_str()),
                HeaderMatch::Prefix(v) => req.single(name).is_some_and(|h| h.starts_with(v.as_str())),
            })
    }
}

/// Index of a provider in [`crate::config::Config::providers`].
pub type ProviderId = usize;

/// What a request must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// A valid token from any of these providers (one provider is the common case).
    Any(Vec<ProviderId>),
    /// A valid token from each of these providers.
    All(Vec<ProviderId>),
    /// No token passes without identity; a token present must be valid for one of these.
    AllowMissing(Vec<ProviderId>),
    /// Always passes; identity headers are added only when a token verifies.
    AllowMissingOrFailed(Vec<ProviderId>),
    /// Public: no check at all.
    None,
}

impl Requirement {
    /// The providers involved.
    pub fn providers(&self) -> &[ProviderId] {
        match self {
            Requirement::Any(p) | Requirement::All(p) | Requirement::AllowMissing(p) | Requirement::AllowMissingOrFailed(p) => p,
            Requirement::None => &[],
        }
    }

    /// Whether a request without a token may pass.
    pub fn allows_missing(&self) -> bool {
        matches!(self, Requirement::AllowMissing(_) | Requirement::AllowMissingOrFailed(_) | Requirement::None)
    }
}

/// One rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// When it applies.
    pub when: Match,
    /// What it requires.
    pub requires: Requirement,
    /// Extra 403 checks on the verified claims.
    pub authz: Authz,
}

/// Whether a request is a CORS preflight: `OPTIONS` with `Origin` and
/// `Access-Control-Request-Method`.
pub fn is_cors_preflight(req: &RequestView<'_>) -> bool {
    req.method == "OPTIONS"
        && req.values("origin").next().is_some()
        && req.values("access-control-request-method").next().is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(method: &'a str, path: &'a str, headers: &'a [(&'a str, &'a [u8])]) -> RequestView<'a> {
        RequestView { method, path, headers }
    }

    fn m(path: PathMatch) -> Match {
        Match { path, methods: vec![], headers: vec![] }
    }

    #[test]
    fn path_matching_ignores_the_query() {
        assert!(m(PathMatch::Prefix("/api".into())).matches(&req("GET", "/api/x?y=1", &[])));
        assert!(!m(PathMatch::Prefix("/api".into())).matches(&req("GET", "/ap?i", &[])));
        assert!(m(PathMatch::Exact("/a".into())).matches(&req("GET", "/a?b", &[])));
        assert!(!m(PathMatch::Exact("/a".into())).matches(&req("GET", "/ab", &[])));
        let r = crate::regex::Regex::new(r"/users/[0-9]+").unwrap();
        assert!(m(PathMatch::Regex(r.clone())).matches(&req("GET", "/users/42?x=1", &[])));
        assert!(!m(PathMatch::Regex(r)).matches(&req("GET", "/users/42/x", &[])), "regex is anchored");
        let alt = crate::regex::Regex::new("/a|/ab").unwrap();
        assert!(m(PathMatch::Regex(alt)).matches(&req("GET", "/ab", &[])), "the whole path, not the leftmost-first match");
    }

    #[test]
    fn methods_and_headers() {
        let hs: Vec<(&str, &[u8])> = vec![("x-env", b"prod")];
        let rule = Match {
            path: PathMatch::Prefix("/".into()),
            methods: vec!["POST".into()],
            headers: vec![("x-env".into(), HeaderMatch::Exact("prod".into()))],
        };
        assert!(rule.matches(&req("POST", "/", &hs)));
        assert!(!rule.matches(&req("GET", "/", &hs)));
        assert!(!rule.matches(&req("POST", "/", &[])));
        let absent = Match { headers: vec![("x-env".into(), HeaderMatch::Present(false))], ..m(PathMatch::Prefix("/".into())) };
        assert!(absent.matches(&req("GET", "/", &[])));
        assert!(!absent.matches(&req("GET", "/", &hs)));
    }

    #[test]
    fn preflight_detection() {
        let hs: Vec<(&str, &[u8])> = vec![("origin", b"https://app"), ("access-control-request-method", b"GET")];
        assert!(is_cors_preflight(&req("OPTIONS", "/", &hs)));
        assert!(!is_cors_preflight(&req("OPTIONS", "/", &hs[..1])));
        assert!(!is_cors_preflight(&req("GET", "/", &hs)));
    }
}
