//! Which root a plugin gets from this module: the HTTP filter or the `jwks-fetcher` service.
//!
//! One module serves both roles. Envoy keys its compiled modules and base VMs by `vm_id`, VM
//! configuration and code, so a fetcher and a filter that load the same bytes under the same
//! `vm_id` share one compiled module (V8 compiles it once, and its compile memory is paid once)
//! instead of two. The role comes from the plugin's `root_id`: [`FETCHER_ROOT_ID`] selects the
//! fetcher, anything else the filter. `jwks_fetcher.wasm` is a copy of `jwt_filter.wasm`, so
//! configurations that name either file keep working.

use wasm_host::dispatch::RootContext;

/// The `root_id` that selects the fetcher (Envoy's `WasmService` plugin `root_id`).
pub const FETCHER_ROOT_ID: &str = "jwks-fetcher";

/// What a root context of this module does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The HTTP filter ([`crate::Root`]).
    Filter,
    /// The singleton that fetches and publishes the JWKS ([`jwks_fetcher::Fetcher`]).
    Fetcher,
}

/// The role for a plugin `root_id` (absent or unreadable: the filter).
pub fn role_of(root_id: Option<&[u8]>) -> Role {
    match root_id {
        Some(id) if id == FETCHER_ROOT_ID.as_bytes() => Role::Fetcher,
        _ => Role::Filter,
    }
}

/// The root context for a new plugin, chosen by the plugin's `root_id`, which Envoy answers
/// while it creates the root context.
pub fn new_root(context_id: u32) -> Box<dyn RootContext> {
    let root_id = wasm_host::abi::property(&["plugin_root_id"]).ok().flatten();
    match role_of(root_id.as_deref()) {
        Role::Fetcher => Box::new(jwks_fetcher::Fetcher::new(context_id)),
        Role::Filter => Box::new(crate::Root::new(context_id)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fetcher_root_id_selects_the_fetcher_and_anything_else_the_filter() {
        assert_eq!(role_of(Some(b"jwks-fetcher")), Role::Fetcher);
        assert_eq!(role_of(Some(b"jwt")), Role::Filter);
        assert_eq!(role_of(Some(b"jwks-fetcher2")), Role::Filter);
        assert_eq!(role_of(Some(b"")), Role::Filter);
        assert_eq!(role_of(None), Role::Filter);
    }
}
