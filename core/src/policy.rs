//! Authorization after authentication: checks that refuse a valid token with 403
//! (`insufficient_scope`): Cognito groups, OAuth scopes, allowed subjects, and claim conditions
//! with dot paths into nested claims.

use crate::error::{AuthError, Denial};
use crate::json::{Map, Value};

/// Top-level claims by name: a token's whole claims map, or the [`KeptValues`] of a verified one.
pub trait Claims {
    /// The top-level member `name`.
    fn member(&self, name: &str) -> Option<&Value>;
}

impl Claims for Map {
    fn member(&self, name: &str) -> Option<&Value> {
        self.get(name)
    }
}

/// Finds a claim by name. A name that exists as a top-level member wins (Auth0 namespaced claims
/// such as `https://example.com/roles` contain dots); otherwise dots walk into nested objects.
pub fn lookup<'c>(claims: &'c dyn Claims, path: &str) -> Option<&'c Value> {
    if let Some(v) = claims.member(path) {
        return Some(v);
    }
    let mut parts = path.split('.');
    let mut cur = claims.member(parts.next()?)?;
    for p in parts {
        cur = cur.as_object()?.get(p)?;
    }
    Some(cur)
}

/// How a claim condition compares.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// The claim equals this JSON value.
    Equals(Value),
    /// The claim is an array holding this value, or a space-delimited string holding this word.
    Contains(Value),
}

/// A claim condition from a rule.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimCondition {
    /// Claim name or dot path.
    pub path: String,
    /// The comparison.
    pub condition: Condition,
}

impl ClaimCondition {
    fn holds(&self, claims: &dyn Claims) -> bool {
        let Some(v) = lookup(claims, &self.path) else { return false };
        match &self.condition {
            Condition::Equals(want) => v == want,
            Condition::Contains(want) => match v {
                Value::Array(a) => a.contains(want),
                Value::String(s) => want.as_str().is_some_and(|w| s.split(' ').any(|x| x == w)),
                _ => false,
            },
        }
    }
}

/// Subjects a provider accepts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subjects {
    /// Exact `sub` values.
    pub exact: Vec<String>,
    /// `sub` prefixes.
    pub prefixes: Vec<String>,
}

impl Subjects {
    fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.prefixes.is_empty()
    }

    fn allows(&self, sub: &str) -> bool {
        self.exact.iter().any(|s| s == sub) || self.prefixes.iter().any(|p| sub.starts_with(p.as_str()))
    }
}

/// A set of authorization checks (a provider's or a rule's). All must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Authz {
    /// `cognito:groups` must contain at least one of these.
    pub groups: Vec<String>,
    /// `scope` (space-delimited; `scp` arrays also read) must contain all of these.
    pub scopes: Vec<String>,
    /// Allowed subjects; empty allows all.
    pub subjects: Subjects,
    /// Claim conditions.
    pub claims: Vec<ClaimCondition>,
}

impl Authz {
    /// Whether there is nothing to check.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty() && self.scopes.is_empty() && self.subjects.is_empty() && self.claims.is_empty()
    }

    /// Applies the checks to verified claims.
    pub fn check(&self, claims: &dyn Claims) -> Result<(), AuthError> {
        if self.is_empty() {
            return Ok(());
        }
        if !self.subjects.is_empty() {
            let sub = claims.member("sub").and_then(Value::as_str).unwrap_or_default();
            if !self.subjects.allows(sub) {
                return Err(AuthError::with(Denial::Subject, "sub not allowed"));
            }
        }
        if !self.groups.is_empty() {
            let groups = claims.member("cognito:groups").and_then(Value::as_array);
            let ok = groups.is_some_and(|g| g.iter().any(|x| x.as_str().is_some_and(|x| self.groups.iter().any(|w| w == x))));
            if !ok {
                return Err(AuthError::with(Denial::Group, format!("needs one of {:?}", self.groups)));
            }
        }
        if !self.scopes.is_empty() {
            let have: Vec<&str> = match (claims.member("scope"), claims.member("scp")) {
                (Some(Value::String(s)), _) => s.split(' ').filter(|x| !x.is_empty()).collect(),
                (_, Some(Value::Array(a))) => a.iter().filter_map(Value::as_str).collect(),
                (_, Some(Value::String(s))) => s.split(' ').filter(|x| !x.is_empty()).collect(),
                _ => Vec::new(),
            };
            if let Some(missing) = self.scopes.iter().find(|w| !have.contains(&w.as_str())) {
                return Err(AuthError::with(Denial::Scope, format!("missing scope {missing}")));
            }
        }
        if let Some(c) = self.claims.iter().find(|c| !c.holds(claims)) {
            return Err(AuthError::with(Denial::Claim, format!("condition on {} not met", c.path)));
        }
        Ok(())
    }
}

impl Authz {
    /// The top-level claim names [`Authz::check`] may read, added to `out`. For a claim path
    /// `a.b.c`, [`lookup`] reads the member `a.b.c`, else walks from `a`; every dot prefix
    /// (`a.b` too) is kept, so the cut holds whichever way a path is resolved.
    fn reads(&self, out: &mut Vec<Box<str>>) {
        let fixed = [
            (!self.subjects.is_empty(), "sub"),
            (!self.groups.is_empty(), "cognito:groups"),
            (!self.scopes.is_empty(), "scope"),
            (!self.scopes.is_empty(), "scp"),
        ];
        for (read, name) in fixed {
            if read {
                keep(out, name);
            }
        }
        for c in &self.claims {
            keep(out, &c.path);
            for (i, b) in c.path.bytes().enumerate() {
                if b == b'.' {
                    keep(out, c.path.get(..i).unwrap_or_default());
                }
            }
        }
    }
}

/// Adds a name to a sorted list, once (no sort: one insertion routine in the module).
fn keep(names: &mut Vec<Box<str>>, name: &str) {
    if let Err(i) = names.binary_search_by(|n| (**n).cmp(name)) {
        names.insert(i, name.into());
    }
}

/// The top-level claims kept with a verified token (in [`crate::cache::Verified`], cached or
/// not): the ones something reads after verification, computed once per configuration. Every
/// provider's and rule's authorization checks, and `sub` and `iss` when the outcome goes to
/// filter state. The upstream headers are rendered from all claims before this cut.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeptClaims(Vec<Box<str>>);

impl KeptClaims {
    /// The claims these checks read, plus `sub` and `iss` when `filter_state` is on.
    pub fn new<'a>(authz: impl IntoIterator<Item = &'a Authz>, filter_state: bool) -> Self {
        let mut names = Vec::new();
        for a in authz {
            a.reads(&mut names);
        }
        if filter_state {
            keep(&mut names, "sub");
            keep(&mut names, "iss");
        }
        KeptClaims(names)
    }

    /// Whether a top-level claim is kept.
    pub fn contains(&self, name: &str) -> bool {
        self.0.binary_search_by(|n| (**n).cmp(name)).is_ok()
    }

    /// The kept names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|n| &**n)
    }

    /// A copy of the kept members of `claims`.
    pub fn filter(&self, claims: &Map) -> KeptValues {
        let kept = self.0.iter().filter_map(|n| Some((Box::from(&**n), claims.get(n)?.clone())));
        KeptValues(kept.collect())
    }
}

/// The kept claims of a verified token, sorted by name: a slice, not a B-tree, whose nodes
/// hold 11 members however few there are.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeptValues(Box<[(Box<str>, Value)]>);

impl KeptValues {
    /// A top-level claim.
    pub fn get(&self, name: &str) -> Option<&Value> {
        let i = self.0.binary_search_by(|(n, _)| (**n).cmp(name)).ok()?;
        self.0.get(i).map(|(_, v)| v)
    }

    /// The members, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(n, v)| (&**n, v))
    }

    /// Whether none was kept.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// As a JSON object (for tests and tools).
    pub fn to_map(&self) -> Map {
        self.iter().map(|(n, v)| (n.to_string(), v.clone())).collect()
    }
}

impl Claims for KeptValues {
    fn member(&self, name: &str) -> Option<&Value> {
        self.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::json;

    fn obj(v: Value) -> Map {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn lookup_prefers_exact_names_then_walks_dots() {
        let c = obj(json!({"https://x.io/roles":["a"],"org":{"team":{"id":7}},"a.b":1,"a":{"b":2}}));
        assert_eq!(lookup(&c, "https://x.io/roles"), Some(&json!(["a"])));
        assert_eq!(lookup(&c, "org.team.id"), Some(&json!(7)));
        assert_eq!(lookup(&c, "a.b"), Some(&json!(1)));
        assert_eq!(lookup(&c, "org.nope"), None);
    }

    #[test]
    fn groups_any_scopes_all() {
        let a = Authz {
            groups: vec!["admin".into(), "ops".into()],
            scopes: vec!["read".into(), "write".into()],
            ..Default::default()
        };
        assert!(a.check(&obj(json!({"cognito:groups":["ops"],"scope":"read write other"}))).is_ok());
        assert_eq!(a.check(&obj(json!({"cognito:groups":["dev"],"scope":"read write"}))).unwrap_err().denial, Denial::Group);
        assert_eq!(a.check(&obj(json!({"scope":"read write"}))).unwrap_err().denial, Denial::Group);
        assert_eq!(a.check(&obj(json!({"cognito:groups":["admin"],"scope":"read"}))).unwrap_err().denial, Denial::Scope);
        let s = Authz { scopes: vec!["read".into()], ..Default::default() };
        assert!(s.check(&obj(json!({"scp":["read"]}))).is_ok());
    }

    #[test]
    fn subjects_and_conditions() {
        let a = Authz {
            subjects: Subjects { exact: vec!["u1".into()], prefixes: vec!["svc-".into()] },
            claims: vec![
                ClaimCondition { path: "org.tier".into(), condition: Condition::Equals(json!("gold")) },
                ClaimCondition { path: "roles".into(), condition: Condition::Contains(json!("editor")) },
            ],
            ..Default::default()
        };
        let good = json!({"sub":"svc-7","org":{"tier":"gold"},"roles":["viewer","editor"]});
        assert!(a.check(&obj(good)).is_ok());
        assert_eq!(a.check(&obj(json!({"sub":"u2"}))).unwrap_err().denial, Denial::Subject);
        assert_eq!(
            a.check(&obj(json!({"sub":"u1","org":{"tier":"silver"},"roles":["editor"]}))).unwrap_err().denial,
            Denial::Claim
        );
        assert_eq!(
            a.check(&obj(json!({"sub":"u1","org":{"tier":"gold"},"roles":"viewer editor"}))).map_err(|e| e.denial),
            Ok(())
        );
    }

    #[test]
    fn kept_claims_are_the_ones_the_checks_and_filter_state_read() {
        let provider = Authz { groups: vec!["admin".into()], ..Default::default() };
        let rule = Authz {
            scopes: vec!["read".into()],
            subjects: Subjects { exact: vec!["u".into()], prefixes: vec![] },
            claims: vec![ClaimCondition { path: "a.b.c".into(), condition: Condition::Equals(json!(1)) }],
            ..Default::default()
        };
        let k = KeptClaims::new([&provider, &rule], false);
        assert_eq!(k.names().collect::<Vec<_>>(), ["a", "a.b", "a.b.c", "cognito:groups", "scope", "scp", "sub"]);
        assert!(!k.contains("iss"));
        assert!(KeptClaims::new([&provider], true).contains("iss"));
        assert_eq!(KeptClaims::new([&Authz::default()], true).names().collect::<Vec<_>>(), ["iss", "sub"]);
        assert_eq!(KeptClaims::new([&Authz::default()], false), KeptClaims::default());
        let claims = obj(json!({"a":{"b":{"c":1}},"a.b":{"c":2},"sub":"u","scope":"read","unread":"x","ab":3}));
        let kept = k.filter(&claims);
        assert_eq!(Value::Object(kept.to_map()), json!({"a":{"b":{"c":1}},"a.b":{"c":2},"sub":"u","scope":"read"}));
        assert_eq!(kept.get("sub"), Some(&json!("u")));
        assert_eq!(kept.get("unread"), None);
        assert_eq!(rule.check(&kept), rule.check(&claims), "the checks read the same values");
        assert_eq!(lookup(&kept, "a.b.c"), lookup(&claims, "a.b.c"));
    }
}
