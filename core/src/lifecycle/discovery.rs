//! OIDC discovery: the JWKS path from a discovery document's `jwks_uri`, which must be on the
//! host the source's cluster serves (a fetch can only go to that cluster).

use super::FailReason;

/// Splits an absolute URL into (authority, path-and-query).
fn split_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"))?;
    match rest.find('/') {
        Some(i) => Some((rest.get(..i)?, rest.get(i..)?)),
        None => Some((rest, "/")),
    }
}

/// The JWKS path a discovery document names, if its `jwks_uri` is on `authority`.
pub fn jwks_path(body: &[u8], authority: &str) -> Result<String, (FailReason, String)> {
    let doc = crate::json::parse(body).map_err(|e| (FailReason::Discovery, format!("discovery document is not JSON: {e}")))?;
    let uri = doc
        .get("jwks_uri")
        .and_then(crate::json::Value::as_str)
        .ok_or((FailReason::Discovery, "discovery document has no jwks_uri".to_string()))?;
    let (host, path) = split_url(uri).ok_or((FailReason::Discovery, format!("jwks_uri {uri:?} is not an http(s) URL")))?;
    if !host.eq_ignore_ascii_case(authority) {
        return Err((
            FailReason::Discovery,
            format!(
                "jwks_uri {uri} is on host {host}, not {authority}: add an Envoy cluster for {host} and set jwks.cluster, jwks.authority: {host:?} and jwks.path: {path:?}"
            ),
        ));
    }
    Ok(path.to_string())
}
