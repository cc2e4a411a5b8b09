//! Bench only: the floor under any proxy-wasm filter that verifies tokens with Envoy's
//! `verify_signature` foreign function (BoringSSL). Per request it does what `bench/noop`'s
//! `"io"` mode does (read the request headers, add one header) and asks the host to verify one
//! fixed RS256 signature: the key, signature and signing input of one bench token, given as the
//! plugin configuration `"<SPKI hex>:<signature hex>:<signing input>"` (`mint verify-probe`).
//! An answer other than "valid" gets a 500, so the bench sees it. `make bench` puts it next to
//! the no-op rows: the difference is what one `verify_signature` call costs a request.

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType};
use std::rc::Rc;

proxy_wasm::main! {{
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root { args: Rc::new(Vec::new()) }) });
}}

struct Root {
    /// `VerifySignatureArguments` as protobuf, built once.
    args: Rc<Vec<u8>>,
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| char::from(c).to_digit(16).and_then(|d| u8::try_from(d).ok());
    s.as_bytes().chunks(2).map(|p| Some(digit(*p.first()?)? * 16 + digit(*p.get(1)?)?)).collect()
}

/// One length-delimited protobuf field, as `wasm_host::store::encode_args` writes them for the
/// filter. This probe is built on the SDK (as `bench/noop` is), and an SDK module cannot link
/// `wasm-host`, which defines the same proxy-wasm exports.
fn field(out: &mut Vec<u8>, tag: u8, data: &[u8]) {
    out.push(tag);
    let mut n = data.len();
    while n >= 0x80 {
        out.push(u8::try_from(n & 0x7f).unwrap_or(0) | 0x80);
        n >>= 7;
    }
    out.push(u8::try_from(n).unwrap_or(0));
    out.extend_from_slice(data);
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let config = self.get_plugin_configuration().unwrap_or_default();
        let text = String::from_utf8_lossy(&config);
        let mut parts = text.trim_matches('"').splitn(3, ':');
        let (Some(spki), Some(sig), Some(msg)) = (parts.next().and_then(unhex), parts.next().and_then(unhex), parts.next())
        else {
            return false;
        };
        let mut args = Vec::new();
        field(&mut args, 0x0a, b"sha256");
        field(&mut args, 0x12, &spki);
        field(&mut args, 0x1a, &sig);
        field(&mut args, 0x22, msg.as_bytes());
        self.args = Rc::new(args);
        true
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Filter { args: self.args.clone() }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Filter {
    args: Rc<Vec<u8>>,
}

impl Context for Filter {}

impl HttpContext for Filter {
    fn on_http_request_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        if self.get_http_request_headers_bytes().iter().any(|(n, _)| n == "authorization") {
            self.set_http_request_header("x-current-user", Some(r#"{"username":"andrew"}"#));
        }
        // VerifySignatureResult { result = 1 }: true starts 08 01.
        match proxy_wasm::hostcalls::call_foreign_function("verify_signature", Some(&self.args)) {
            Ok(Some(r)) if r.starts_with(&[0x08, 0x01]) => Action::Continue,
            _ => {
                self.send_http_response(500, Vec::new(), Some(b"verify_signature did not answer valid"));
                Action::Pause
            }
        }
    }
}
