//! Configuration parsing (what `on_configure` does with the operator's document), then one
//! request with and one without a token through whatever configuration came out.

#![no_main]

mod common;

use jwt_core::cache::TokenCache;
use jwt_core::config::Config;
use jwt_core::extract::RequestView;
use libfuzzer_sys::fuzz_target;

const TOKEN: &[u8] = b"Bearer eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL2lzc3Vlci5mdXp6In0.c2ln";

fuzz_target!(|data: &[u8]| {
    let Ok(config) = Config::parse(data) else { return };
    let mut cache = TokenCache::new(config.cache.max_entries.min(16), config.cache.max_bytes.min(1 << 16));
    let with: [(&str, &[u8]); 2] = [("authorization", TOKEN), ("origin", b"https://app")];
    for (method, path, headers) in [
        ("GET", "/admin/x?access_token=a", &with[..]),
        ("OPTIONS", "/", &[("origin", &b"https://app"[..]), ("access-control-request-method", b"GET")][..]),
        ("POST", "/public/feed", &[][..]),
    ] {
        let req = RequestView { method, path, headers };
        let _ = config.route(&req);
        let outcome = common::decide(&config, 1_700_000_000, &req, None, &mut cache);
        std::hint::black_box(outcome);
    }
});
