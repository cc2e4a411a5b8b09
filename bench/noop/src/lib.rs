//! Bench only: the floor under any proxy-wasm HTTP filter in this Envoy. With no configuration
//! it does nothing; with the configuration `"io"` it does the least an auth filter must: read
//! the request headers and add one header (a fixed `x-current-user`) when `authorization` is
//! present. `make bench` puts both next to this filter, so the report shows what Envoy's V8
//! plumbing costs before any filter logic.

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType};

proxy_wasm::main! {{
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root { io: false }) });
}}

struct Root {
    io: bool,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        self.io = self.get_plugin_configuration().is_some_and(|c| c.windows(2).any(|w| w == b"io"));
        true
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Filter { io: self.io }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Filter {
    io: bool,
}

impl Context for Filter {}

impl HttpContext for Filter {
    fn on_http_request_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        if self.io && self.get_http_request_headers_bytes().iter().any(|(n, _)| n == "authorization") {
            self.set_http_request_header("x-current-user", Some(r#"{"username":"andrew"}"#));
        }
        Action::Continue
    }
}
