//! The proxy-wasm context dispatcher: which context each of Envoy's callbacks is for.
//!
//! Envoy numbers contexts itself. A root context (one per plugin, `root_context_id` 0) is made
//! by the factory the module registers ([`set_root_factory`]); an HTTP context (one per request)
//! by its root ([`RootContext::new_http_context`]). A `dispatch_http_call` token is recorded
//! against the context whose callback made the call, and its response goes back to that
//! context. `abi.rs` holds the exports, which call the functions at the end of this module.
//!
//! Nothing here panics on what the host passes: an unknown context id or token is ignored (and
//! logged), and a callback that re-enters the dispatcher while a context is busy gets the
//! callback's default answer. Request headers of a stream that has no context are refused
//! (fail closed) with the reply of a filter that is not ready.

use std::cell::{Cell, RefCell};

/// Makes the root context of a new plugin, given its context id.
pub type NewRoot = fn(context_id: u32) -> Box<dyn RootContext>;

/// What Envoy does with a stream after a callback (proxy-wasm ABI values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Action {
    /// Continue to the next filter.
    Continue = 0,
    /// Stop iteration until the context resumes the stream (or has answered it).
    Pause = 1,
}

/// A root context: one per plugin and VM.
pub trait RootContext {
    /// The plugin configuration is `size` bytes long; false rejects it.
    fn on_configure(&mut self, size: usize) -> bool;

    /// The tick period elapsed.
    fn on_tick(&mut self) {}

    /// A call this context made with `dispatch_http_call` has finished.
    fn on_http_call_response(&mut self, _token: u32, _headers: usize, _body_size: usize, _trailers: usize) {}

    /// The plugin is going away; true when the context is done at once.
    fn on_done(&mut self) -> bool {
        true
    }

    /// The context of a new request under this root (`None`: this root serves no streams).
    fn new_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        None
    }
}

/// The context of one HTTP request.
pub trait HttpContext {
    /// The request headers arrived (`headers` of them).
    fn on_request_headers(&mut self, headers: usize, end_of_stream: bool) -> Action;

    /// A call this context made with `dispatch_http_call` has finished.
    fn on_http_call_response(&mut self, _token: u32, _headers: usize, _body_size: usize, _trailers: usize) {}
}

/// Entries kept sorted by id (Envoy's ids grow, so an insert is almost always a push).
type Slots<T> = Vec<(u32, T)>;

fn find<T>(slots: &Slots<T>, id: u32) -> Result<usize, usize> {
    slots.binary_search_by_key(&id, |(k, _)| *k)
}

/// Inserts or replaces the entry for `id`; returns the one it replaced.
fn put<T>(slots: &mut Slots<T>, id: u32, value: T) -> Option<T> {
    match find(slots, id) {
        Ok(i) => slots.get_mut(i).map(|slot| std::mem::replace(&mut slot.1, value)),
        Err(i) => {
            slots.insert(i, (id, value));
            None
        }
    }
}

fn take<T>(slots: &mut Slots<T>, id: u32) -> Option<T> {
    let i = find(slots, id).ok()?;
    Some(slots.remove(i).1)
}

fn slot<T>(slots: &mut Slots<T>, id: u32) -> Option<&mut T> {
    let i = find(slots, id).ok()?;
    slots.get_mut(i).map(|slot| &mut slot.1)
}

/// The contexts of one VM and the HTTP calls they wait for. Each table has its own `RefCell`,
/// so a context's callback can make a call (which records its token) while the context is
/// borrowed.
pub struct Dispatcher {
    new_root: Cell<Option<NewRoot>>,
    roots: RefCell<Slots<Box<dyn RootContext>>>,
    streams: RefCell<Slots<Box<dyn HttpContext>>>,
    /// Pending calls: token, then the id of the context that made the call.
    calls: RefCell<Slots<u32>>,
    /// The context whose callback is running.
    current: Cell<u32>,
}

impl Default for Dispatcher {
    fn default() -> Self {
        Dispatcher::new()
    }
}

impl Dispatcher {
    /// No contexts yet, no root factory.
    pub const fn new() -> Dispatcher {
        Dispatcher {
            new_root: Cell::new(None),
            roots: RefCell::new(Vec::new()),
            streams: RefCell::new(Vec::new()),
            calls: RefCell::new(Vec::new()),
            current: Cell::new(0),
        }
    }

    /// Sets the factory of root contexts.
    pub fn set_root_factory(&self, new_root: NewRoot) {
        self.new_root.set(Some(new_root));
    }

    /// `proxy_on_context_create`: a root context when `root_context_id` is 0, else an HTTP
    /// context made by that root.
    pub fn on_context_create(&self, context_id: u32, root_context_id: u32) {
        self.current.set(context_id);
        if root_context_id == 0 {
            self.create_root(context_id);
        } else {
            self.create_http(context_id, root_context_id);
        }
    }

    fn create_root(&self, context_id: u32) {
        let Some(new_root) = self.new_root.get() else {
            log::error!("proxy-wasm: no root context factory; context {context_id} ignored");
            return;
        };
        let root = new_root(context_id);
        let replaced = match self.roots.try_borrow_mut() {
            Ok(mut roots) => put(&mut roots, context_id, root),
            Err(_) => Some(root),
        };
        if replaced.is_some() {
            log::warn!("proxy-wasm: root context {context_id} created twice, or re-entered");
        }
    }

    fn create_http(&self, context_id: u32, root_context_id: u32) {
        let made = match self.roots.try_borrow_mut() {
            Ok(mut roots) => slot(&mut roots, root_context_id).and_then(|root| root.new_http_context(context_id)),
            Err(_) => None,
        };
        let Some(made) = made else {
            log::warn!("proxy-wasm: no HTTP context {context_id} under root {root_context_id}");
            return;
        };
        let replaced = match self.streams.try_borrow_mut() {
            Ok(mut streams) => put(&mut streams, context_id, made),
            Err(_) => Some(made),
        };
        if replaced.is_some() {
            log::warn!("proxy-wasm: HTTP context {context_id} created twice, or re-entered");
        }
    }

    /// Runs `f` on root context `context_id`, or answers `default` when there is none (or it is
    /// busy).
    fn with_root<R>(&self, context_id: u32, default: R, f: impl FnOnce(&mut dyn RootContext) -> R) -> R {
        self.current.set(context_id);
        let Ok(mut roots) = self.roots.try_borrow_mut() else {
            return default;
        };
        match slot(&mut roots, context_id) {
            Some(root) => f(root.as_mut()),
            None => default,
        }
    }

    /// Runs `f` on HTTP context `context_id`; `None` when there is none (or it is busy).
    fn with_stream<R>(&self, context_id: u32, f: impl FnOnce(&mut dyn HttpContext) -> R) -> Option<R> {
        self.current.set(context_id);
        let mut streams = self.streams.try_borrow_mut().ok()?;
        slot(&mut streams, context_id).map(|stream| f(stream.as_mut()))
    }

    /// `proxy_on_configure`: false (reject) for an unknown root.
    pub fn on_configure(&self, context_id: u32, size: usize) -> bool {
        self.with_root(context_id, false, |root| root.on_configure(size))
    }

    /// `proxy_on_tick`.
    pub fn on_tick(&self, context_id: u32) {
        self.with_root(context_id, (), |root| root.on_tick());
    }

    /// `proxy_on_request_headers`; `None` when no context serves this stream.
    pub fn on_request_headers(&self, context_id: u32, headers: usize, end_of_stream: bool) -> Option<Action> {
        self.with_stream(context_id, |stream| stream.on_request_headers(headers, end_of_stream))
    }

    /// `proxy_on_done`: an HTTP context or an unknown one is done at once; a root decides.
    pub fn on_done(&self, context_id: u32) -> bool {
        if self.with_stream(context_id, |_| ()).is_some() {
            return true;
        }
        self.with_root(context_id, true, |root| root.on_done())
    }

    /// `proxy_on_delete`: forgets the context and the calls it still waited for. The context is
    /// dropped after the tables are released, so its `Drop` may use the dispatcher.
    pub fn on_delete(&self, context_id: u32) {
        let stream = self.streams.try_borrow_mut().ok().and_then(|mut s| take(&mut s, context_id));
        let root = match stream {
            Some(_) => None,
            None => self.roots.try_borrow_mut().ok().and_then(|mut r| take(&mut r, context_id)),
        };
        if let Ok(mut calls) = self.calls.try_borrow_mut() {
            calls.retain(|&(_, owner)| owner != context_id);
        }
        drop(stream);
        drop(root);
    }

    /// Records a call just made by the context whose callback is running.
    pub fn register_call(&self, token: u32) {
        let owner = self.current.get();
        if let Ok(mut calls) = self.calls.try_borrow_mut() {
            if put(&mut calls, token, owner).is_some() {
                log::warn!("proxy-wasm: HTTP call token {token} reused");
            }
        }
    }

    /// The context that made call `token`, which is no longer pending; `None` for a token this
    /// VM does not wait for.
    pub fn take_call(&self, token: u32) -> Option<u32> {
        let owner = self.calls.try_borrow_mut().ok().and_then(|mut calls| take(&mut calls, token));
        if owner.is_none() {
            log::warn!("proxy-wasm: response for unknown HTTP call token {token} ignored");
        }
        owner
    }

    /// Hands a finished call to the context that made it (a request, else a root).
    pub fn deliver_call(&self, owner: u32, token: u32, headers: usize, body_size: usize, trailers: usize) {
        let on_stream = self.with_stream(owner, |s| s.on_http_call_response(token, headers, body_size, trailers));
        if on_stream.is_none() {
            self.with_root(owner, (), |root| root.on_http_call_response(token, headers, body_size, trailers));
        }
    }

    /// How many contexts (roots, streams) and pending calls there are.
    #[cfg(test)]
    fn counts(&self) -> (usize, usize, usize) {
        let len = |t: Result<usize, _>| t.unwrap_or(0);
        (
            len(self.roots.try_borrow().map(|r| r.len())),
            len(self.streams.try_borrow().map(|s| s.len())),
            len(self.calls.try_borrow().map(|c| c.len())),
        )
    }
}

thread_local! {
    /// The VM's dispatcher (a wasm VM has one thread).
    static DISPATCHER: Dispatcher = const { Dispatcher::new() };
}

/// Registers the module's root context factory; call it from `wasm_host::main!`.
pub fn set_root_factory(new_root: NewRoot) {
    DISPATCHER.with(|d| d.set_root_factory(new_root));
}

/// Records a call the running context just made (from `abi::dispatch_http_call`).
pub fn register_call(token: u32) {
    DISPATCHER.with(|d| d.register_call(token));
}

/// `proxy_on_context_create`.
pub fn context_create(context_id: u32, root_context_id: u32) {
    DISPATCHER.with(|d| d.on_context_create(context_id, root_context_id));
}

/// `proxy_on_configure`.
pub fn configure(context_id: u32, size: usize) -> bool {
    DISPATCHER.with(|d| d.on_configure(context_id, size))
}

/// `proxy_on_tick`.
pub fn tick(context_id: u32) {
    DISPATCHER.with(|d| d.on_tick(context_id));
}

/// `proxy_on_request_headers`. A stream without a context is refused, never let through.
pub fn request_headers(context_id: u32, headers: usize, end_of_stream: bool) -> Action {
    match DISPATCHER.with(|d| d.on_request_headers(context_id, headers, end_of_stream)) {
        Some(action) => action,
        None => refuse(context_id),
    }
}

/// Answers a request no context serves as a filter that is not ready does (503), and stops it.
#[cold]
#[inline(never)]
fn refuse(context_id: u32) -> Action {
    use jwt_core::error::{details, fault_reply, Fault};
    log::error!("proxy-wasm: request of context {context_id} has no filter context; refusing it");
    let reply = fault_reply(Fault::NotReady);
    let headers: Vec<(&str, &str)> = reply.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let _ = crate::abi::send_local_response(reply.status, &details(Fault::NotReady.reason()), &headers, reply.body.as_bytes());
    Action::Pause
}

/// `proxy_on_http_call_response`: the response goes to the context that made the call, made
/// the effective context first (as the call's response is read through it).
pub fn http_call_response(token: u32, headers: usize, body_size: usize, trailers: usize) {
    let Some(owner) = DISPATCHER.with(|d| d.take_call(token)) else {
        return;
    };
    if let Err(s) = crate::abi::set_effective_context(owner) {
        log::warn!("proxy-wasm: context {owner} of HTTP call {token} is gone (status {}); response ignored", s.0);
        return;
    }
    DISPATCHER.with(|d| d.deliver_call(owner, token, headers, body_size, trailers));
}

/// `proxy_on_done`.
pub fn done(context_id: u32) -> bool {
    DISPATCHER.with(|d| d.on_done(context_id))
}

/// `proxy_on_delete`.
pub fn delete(context_id: u32) {
    DISPATCHER.with(|d| d.on_delete(context_id));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    /// What the test contexts saw, in order.
    type Seen = Rc<RefCell<Vec<String>>>;

    thread_local! {
        static SEEN: Seen = Seen::default();
    }

    fn seen(event: String) {
        SEEN.with(|s| s.borrow_mut().push(event));
    }

    fn events() -> Vec<String> {
        SEEN.with(|s| s.borrow_mut().drain(..).collect())
    }

    struct Root {
        id: u32,
        streams: bool,
    }

    impl RootContext for Root {
        fn on_configure(&mut self, size: usize) -> bool {
            seen(format!("configure {} {size}", self.id));
            size > 0
        }
        fn on_tick(&mut self) {
            seen(format!("tick {}", self.id));
        }
        fn on_http_call_response(&mut self, token: u32, headers: usize, body: usize, trailers: usize) {
            seen(format!("root {} response {token} {headers} {body} {trailers}", self.id));
        }
        fn on_done(&mut self) -> bool {
            seen(format!("done {}", self.id));
            false
        }
        fn new_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
            self.streams.then(|| Box::new(Stream { id: context_id, root: self.id }) as Box<dyn HttpContext>)
        }
    }

    struct Stream {
        id: u32,
        root: u32,
    }

    impl HttpContext for Stream {
        fn on_request_headers(&mut self, headers: usize, end_of_stream: bool) -> Action {
            seen(format!("headers {} of {} {headers} {end_of_stream}", self.id, self.root));
            if headers > 1 {
                Action::Pause
            } else {
                Action::Continue
            }
        }
        fn on_http_call_response(&mut self, token: u32, _: usize, _: usize, _: usize) {
            seen(format!("stream {} response {token}", self.id));
        }
    }

    impl Drop for Stream {
        fn drop(&mut self) {
            seen(format!("drop {}", self.id));
        }
    }

    fn dispatcher() -> Dispatcher {
        let d = Dispatcher::new();
        // Root 1 serves streams, any other root (a service) does not.
        d.set_root_factory(|id| Box::new(Root { id, streams: id == 1 }));
        events();
        d
    }

    #[test]
    fn roots_and_streams_get_their_callbacks() {
        let d = dispatcher();
        d.on_context_create(1, 0);
        assert!(d.on_configure(1, 10));
        assert!(!d.on_configure(1, 0));
        d.on_tick(1);
        d.on_context_create(5, 1);
        assert_eq!(d.on_request_headers(5, 1, false), Some(Action::Continue));
        assert_eq!(d.on_request_headers(5, 3, true), Some(Action::Pause));
        assert!(d.on_done(5), "a stream is done at once");
        d.on_delete(5);
        assert!(!d.on_done(1), "a root decides");
        d.on_delete(1);
        assert_eq!(d.counts(), (0, 0, 0));
        assert_eq!(
            events(),
            ["configure 1 10", "configure 1 0", "tick 1", "headers 5 of 1 1 false", "headers 5 of 1 3 true", "drop 5", "done 1"]
        );
    }

    #[test]
    fn unknown_ids_get_defaults_and_never_panic() {
        let d = Dispatcher::new();
        d.on_context_create(1, 0); // no factory yet
        assert_eq!(d.counts(), (0, 0, 0));
        let d = dispatcher();
        assert!(!d.on_configure(9, 10), "an unknown root rejects its configuration");
        d.on_tick(9);
        d.on_context_create(5, 9); // no such root
        assert_eq!(d.on_request_headers(5, 1, false), None);
        assert!(d.on_done(9));
        d.on_delete(9);
        assert_eq!(d.take_call(77), None);
        d.deliver_call(9, 77, 0, 0, 0);
        d.on_context_create(2, 0);
        d.on_context_create(6, 2); // a root without streams
        assert_eq!(d.on_request_headers(6, 1, false), None);
        assert_eq!(d.counts(), (1, 0, 0));
        assert!(events().is_empty());
    }

    #[test]
    fn a_call_goes_back_to_the_context_that_made_it() {
        let d = dispatcher();
        d.on_context_create(1, 0);
        d.on_context_create(2, 0);
        d.on_tick(2);
        d.register_call(40); // made during root 2's tick
        d.on_context_create(7, 1);
        d.on_request_headers(7, 1, false);
        d.register_call(41); // made by request 7
        d.on_tick(1);
        assert_eq!(d.counts(), (2, 1, 2));
        assert_eq!(d.take_call(41), Some(7));
        d.deliver_call(7, 41, 1, 2, 3);
        assert_eq!(d.take_call(40), Some(2));
        d.deliver_call(2, 40, 4, 5, 6);
        assert_eq!(d.take_call(40), None, "each token is answered once");
        assert_eq!(events(), ["tick 2", "headers 7 of 1 1 false", "tick 1", "stream 7 response 41", "root 2 response 40 4 5 6"]);
    }

    #[test]
    fn deleting_a_context_forgets_its_calls() {
        let d = dispatcher();
        d.on_context_create(1, 0);
        d.on_context_create(7, 1);
        d.on_request_headers(7, 1, false);
        d.register_call(41);
        d.on_tick(1);
        d.register_call(42);
        d.on_delete(7);
        assert_eq!(d.counts(), (1, 0, 1));
        assert_eq!(d.take_call(41), None);
        assert_eq!(d.take_call(42), Some(1));
    }

    #[test]
    fn ids_out_of_order_stay_sorted() {
        let mut slots: Slots<u32> = Vec::new();
        for id in [5, 1, 9, 3, 7] {
            assert_eq!(put(&mut slots, id, id * 10), None);
        }
        assert_eq!(put(&mut slots, 3, 33), Some(30));
        assert_eq!(slots.iter().map(|s| s.0).collect::<Vec<_>>(), [1, 3, 5, 7, 9]);
        assert_eq!(take(&mut slots, 5), Some(50));
        assert_eq!(take(&mut slots, 5), None);
        assert_eq!(slot(&mut slots, 3).copied(), Some(33));
        assert_eq!(slot(&mut slots, 4), None);
    }
}
