//! Claim checks after the signature is known good: time (`exp`, `nbf`, `iat`, lifetime),
//! issuer, audience, and Cognito's `token_use` / `client_id` semantics. Authorization checks
//! that answer 403 (groups, scopes, subjects, claim conditions) live in [`crate::policy`].
//!
//! The current time is an argument: nothing here reads a clock.

use crate::error::{AuthError, Denial};
use crate::json::{Map, Value};

/// Which Cognito token a provider accepts (`token_use`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenUse {
    /// Access tokens only: `client_id` is checked against the client ids.
    Access,
    /// ID tokens only: `aud` is checked against the client ids.
    Id,
    /// Either; each is checked by its own rule.
    Any,
}

/// The claim rules of one provider, compiled from its config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRules {
    /// Exact `iss` value.
    pub issuer: String,
    /// Accepted audiences; empty means `aud` is not checked.
    pub audiences: Vec<String>,
    /// Whether `exp` must be present.
    pub require_exp: bool,
    /// Allowed clock difference, seconds, for `exp`, `nbf` and `iat`.
    pub clock_skew: u64,
    /// Longest accepted `exp - iat`, seconds.
    pub max_lifetime: Option<u64>,
    /// Cognito checks, when the provider is a Cognito user pool.
    pub cognito: Option<CognitoRules>,
}

/// Cognito user-pool semantics (as aws-jwt-verify applies them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CognitoRules {
    /// Accepted `token_use`.
    pub token_use: TokenUse,
    /// Accepted app client ids; empty means the client is not checked (explicit opt-out).
    pub client_ids: Vec<String>,
}

/// The time claims of a verified token, kept for re-checks on cache hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Times {
    /// `exp`, if present.
    pub exp: Option<u64>,
    /// `nbf`, if present.
    pub nbf: Option<u64>,
}

/// Reads a NumericDate claim. It must be a non-negative integer: strings, floats, negative
/// numbers and `null` are refused (as jwt-simple does), and values too large for JSON numbers
/// (`1e309`) never parse at all.
pub fn numeric_date(claims: &Map, name: &str) -> Result<Option<u64>, AuthError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            n.as_u64().map(Some).ok_or_else(|| AuthError::with(Denial::BadClaim, format!("{name} is not a non-negative integer")))
        }
        Some(_) => Err(AuthError::with(Denial::BadClaim, format!("{name} is not a number"))),
    }
}

impl Times {
    /// Reads and type-checks `exp` and `nbf`.
    pub fn read(claims: &Map) -> Result<Times, AuthError> {
        Ok(Times { exp: numeric_date(claims, "exp")?, nbf: numeric_date(claims, "nbf")? })
    }

    /// Checks the token is valid at `now` (seconds), allowing `skew`.
    pub fn check(&self, now: u64, skew: u64) -> Result<(), AuthError> {
        if let Some(exp) = self.exp {
            if now >= exp.saturating_add(skew) {
                return Err(AuthError::with(Denial::Expired, format!("exp {exp}, now {now}")));
            }
        }
        if let Some(nbf) = self.nbf {
            if now.saturating_add(skew) < nbf {
                return Err(AuthError::with(Denial::NotYetValid, format!("nbf {nbf}, now {now}")));
            }
        }
        Ok(())
    }
}

fn string_or_array<'a>(claims: &'a Map, name: &str) -> Result<Vec<&'a str>, AuthError> {
    match claims.get(name) {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.as_str()]),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().ok_or_else(|| AuthError::with(Denial::BadClaim, format!("{name} holds a non-string"))))
            .collect(),
        Some(_) => Err(AuthError::with(Denial::BadClaim, format!("{name} is not a string or array"))),
    }
}

fn string_claim<'a>(claims: &'a Map, name: &str) -> Result<Option<&'a str>, AuthError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(AuthError::with(Denial::BadClaim, format!("{name} is not a string"))),
    }
}

impl ClaimRules {
    /// Checks a verified token's claims at `now` (seconds). Returns its time claims.
    pub fn check(&self, claims: &Map, now: u64) -> Result<Times, AuthError> {
        let iss = string_claim(claims, "iss")?;
        if iss != Some(self.issuer.as_str()) {
            return Err(AuthError::with(Denial::UnknownIssuer, format!("iss {:?}", iss.unwrap_or("-"))));
        }
        let times = Times::read(claims)?;
        let iat = numeric_date(claims, "iat")?;
        if self.require_exp && times.exp.is_none() {
            return Err(AuthError::with(Denial::MissingClaim, "exp"));
        }
        times.check(now, self.clock_skew)?;
        if let Some(iat) = iat {
            if iat > now.saturating_add(self.clock_skew) {
                return Err(AuthError::with(Denial::IssuedInFuture, format!("iat {iat}, now {now}")));
            }
        }
        if let Some(max) = self.max_lifetime {
            let (Some(exp), Some(iat)) = (times.exp, iat) else {
                return Err(AuthError::with(Denial::MissingClaim, "exp and iat (max_lifetime is set)"));
            };
            if exp.saturating_sub(iat) > max {
                return Err(AuthError::with(Denial::LifetimeTooLong, format!("{}s > {max}s", exp.saturating_sub(iat))));
            }
        }
        let aud = string_or_array(claims, "aud")?;
        if !self.audiences.is_empty() && !aud.iter().any(|a| self.audiences.iter().any(|x| x == a)) {
            return Err(AuthError::with(Denial::Audience, "aud not in audiences"));
        }
        if let Some(c) = &self.cognito {
            check_cognito(c, claims, &aud)?;
        }
        Ok(times)
    }
}

fn check_cognito(c: &CognitoRules, claims: &Map, aud: &[&str]) -> Result<(), AuthError> {
    let token_use = string_claim(claims, "token_use")?;
    let is_access = match (token_use, c.token_use) {
        (Some("access"), TokenUse::Access | TokenUse::Any) => true,
        (Some("id"), TokenUse::Id | TokenUse::Any) => false,
        (other, _) => {
            return Err(AuthError::with(Denial::TokenUse, format!("token_use {:?}", other.unwrap_or("-"))));
        }
    };
    if c.client_ids.is_empty() {
        return Ok(());
    }
    let ok = if is_access {
        string_claim(claims, "client_id")?.is_some_and(|id| c.client_ids.iter().any(|x| x == id))
    } else {
        aud.iter().any(|a| c.client_ids.iter().any(|x| x == a))
    };
    if ok {
        Ok(())
    } else {
        Err(AuthError::with(Denial::ClientId, if is_access { "client_id" } else { "aud" }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::json;

    const NOW: u64 = 1_700_000_000;

    fn rules() -> ClaimRules {
        ClaimRules {
            issuer: "https://issuer".into(),
            audiences: vec![],
            require_exp: true,
            clock_skew: 60,
            max_lifetime: None,
            cognito: None,
        }
    }

    fn obj(v: Value) -> Map {
        v.as_object().cloned().unwrap()
    }

    fn deny(r: &ClaimRules, v: Value) -> Denial {
        r.check(&obj(v), NOW).unwrap_err().denial
    }

    #[test]
    fn valid_token_passes_and_reports_times() {
        let t = rules().check(&obj(json!({"iss":"https://issuer","exp":NOW+10,"nbf":NOW-5})), NOW).unwrap();
        assert_eq!(t, Times { exp: Some(NOW + 10), nbf: Some(NOW - 5) });
    }

    #[test]
    fn issuer_must_match_exactly() {
        for iss in [json!("https://issuer/"), json!("https://ISSUER"), json!(7), json!(null)] {
            let d = deny(&rules(), json!({"iss": iss, "exp": NOW + 10}));
            assert!(matches!(d, Denial::UnknownIssuer | Denial::BadClaim), "{d:?}");
        }
        assert_eq!(deny(&rules(), json!({"exp": NOW + 10})), Denial::UnknownIssuer);
    }

    #[test]
    fn time_claims_with_skew() {
        let r = rules();
        assert_eq!(deny(&r, json!({"iss":"https://issuer","exp":NOW-61})), Denial::Expired);
        assert!(r.check(&obj(json!({"iss":"https://issuer","exp":NOW-59})), NOW).is_ok());
        assert_eq!(deny(&r, json!({"iss":"https://issuer","exp":NOW+100,"nbf":NOW+61})), Denial::NotYetValid);
        assert_eq!(deny(&r, json!({"iss":"https://issuer","exp":NOW+100,"iat":NOW+61})), Denial::IssuedInFuture);
        assert_eq!(deny(&r, json!({"iss":"https://issuer"})), Denial::MissingClaim);
        let mut lax = rules();
        lax.require_exp = false;
        assert!(lax.check(&obj(json!({"iss":"https://issuer"})), NOW).is_ok());
    }

    #[test]
    fn time_claims_must_be_non_negative_integers() {
        for bad in [json!("1900000000"), json!(1.9e9), json!(1900000000.5), json!(-1), json!(null), json!([1])] {
            for claim in ["exp", "nbf", "iat"] {
                let mut c = json!({"iss":"https://issuer","exp":NOW+100});
                c[claim] = bad.clone();
                assert_eq!(deny(&rules(), c), Denial::BadClaim, "{claim}={bad}");
            }
        }
    }

    #[test]
    fn audience_as_string_or_array() {
        let mut r = rules();
        r.audiences = vec!["api".into()];
        assert!(r.check(&obj(json!({"iss":"https://issuer","exp":NOW+9,"aud":"api"})), NOW).is_ok());
        assert!(r.check(&obj(json!({"iss":"https://issuer","exp":NOW+9,"aud":["x","api"]})), NOW).is_ok());
        assert_eq!(deny(&r, json!({"iss":"https://issuer","exp":NOW+9,"aud":["x"]})), Denial::Audience);
        assert_eq!(deny(&r, json!({"iss":"https://issuer","exp":NOW+9})), Denial::Audience);
        assert_eq!(deny(&r, json!({"iss":"https://issuer","exp":NOW+9,"aud":[1]})), Denial::BadClaim);
    }

    #[test]
    fn max_lifetime() {
        let mut r = rules();
        r.max_lifetime = Some(3600);
        assert!(r.check(&obj(json!({"iss":"https://issuer","iat":NOW,"exp":NOW+3600})), NOW).is_ok());
        assert_eq!(deny(&r, json!({"iss":"https://issuer","iat":NOW,"exp":NOW+3601})), Denial::LifetimeTooLong);
        assert_eq!(deny(&r, json!({"iss":"https://issuer","exp":NOW+10})), Denial::MissingClaim);
    }

    #[test]
    fn cognito_token_use_and_client() {
        let mut r = rules();
        r.cognito = Some(CognitoRules { token_use: TokenUse::Access, client_ids: vec!["app".into()] });
        let ok = json!({"iss":"https://issuer","exp":NOW+9,"token_use":"access","client_id":"app"});
        assert!(r.check(&obj(ok), NOW).is_ok());
        assert_eq!(
            deny(&r, json!({"iss":"https://issuer","exp":NOW+9,"token_use":"access","client_id":"other"})),
            Denial::ClientId
        );
        assert_eq!(deny(&r, json!({"iss":"https://issuer","exp":NOW+9,"token_use":"id","aud":"app"})), Denial::TokenUse);
        assert_eq!(deny(&r, json!({"iss":"https://issuer","exp":NOW+9,"client_id":"app"})), Denial::TokenUse);
        assert_eq!(
            deny(&r, json!({"iss":"https://issuer","exp":NOW+9,"token_use":"access","aud":"app"})),
            Denial::ClientId,
            "access tokens are matched on client_id, not aud"
        );
        r.cognito = Some(CognitoRules { token_use: TokenUse::Id, client_ids: vec!["app".into()] });
        assert!(r.check(&obj(json!({"iss":"https://issuer","exp":NOW+9,"token_use":"id","aud":"app"})), NOW).is_ok());
        assert_eq!(deny(&r, json!({"iss":"https://issuer","exp":NOW+9,"token_use":"id","client_id":"app"})), Denial::ClientId);
        r.cognito = Some(CognitoRules { token_use: TokenUse::Any, client_ids: vec!["app".into()] });
        assert!(r.check(&obj(json!({"iss":"https://issuer","exp":NOW+9,"token_use":"id","aud":"app"})), NOW).is_ok());
        assert!(r.check(&obj(json!({"iss":"https://issuer","exp":NOW+9,"token_use":"access","client_id":"app"})), NOW).is_ok());
    }
}
