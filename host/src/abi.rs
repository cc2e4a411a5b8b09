//! The raw proxy-wasm ABI: the host's imports behind wrappers that never panic, and the
//! module's exports.
//!
//! Every host call returns a raw `u32` status, and every answer other than the ones a wrapper
//! expects becomes an `Err` (a header value is kept as bytes, so a client sending a non-UTF-8
//! value cannot abort the VM).
//!
//! The exports (`proxy_on_*`, the allocator, the ABI version) hand every callback to the
//! dispatcher ([`crate::dispatch`]), which records each [`dispatch_http_call`] token against
//! the context that made the call and routes its response back to it. Callbacks this module
//! does not export (request/response bodies and trailers, response headers, `on_log`,
//! `on_vm_start`, network filters, gRPC, queues, foreign functions) are ones Envoy's host
//! (proxy-wasm-cpp-host) skips when the export is absent, answering Continue (or true) itself.
//! `_initialize` comes from [`main!`](crate::main), in the module's own crate.

// The one module allowed `unsafe` (the workspace denies it): declaring the host's ABI imports
// and taking ownership of the buffers the host allocates cannot be done in safe Rust.
#![allow(unsafe_code)]

use std::ptr::{null, null_mut};
use std::time::Duration;

/// The build facts as a wasm custom section (`jwt_filter.build_info`), for tools that inspect
/// a module without running it. `#[used]` keeps it through LTO; `link_section` is why it lives
/// here, in the one module allowed unsafe attributes. Wasm only: other object formats name
/// sections differently.
#[cfg(target_arch = "wasm32")]
#[used]
#[link_section = "jwt_filter.build_info"]
static BUILD_INFO: [u8; crate::build_info::SECTION.len()] = crate::build_info::SECTION;

/// A proxy-wasm status code other than Ok.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status(pub u32);

/// `NotFound`.
pub const NOT_FOUND: Status = Status(1);
/// `CasMismatch`.
pub const CAS_MISMATCH: Status = Status(8);

/// Map types used here (proxy-wasm ABI values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Map {
    /// The request headers of the current HTTP context.
    RequestHeaders = 0,
    /// The response headers of a finished `dispatch_http_call`.
    HttpCallResponseHeaders = 6,
}

/// Log levels (proxy-wasm ABI values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u32)]
pub enum Level {
    /// trace
    Trace = 0,
    /// debug
    Debug = 1,
    /// info
    Info = 2,
    /// warn
    Warn = 3,
    /// error
    Error = 4,
    /// critical
    Critical = 5,
}

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_log(level: u32, message_data: *const u8, message_size: usize) -> u32;
    fn proxy_get_log_level(return_level: *mut u32) -> u32;
    fn proxy_get_current_time_nanoseconds(return_time: *mut u64) -> u32;
    fn proxy_set_tick_period_milliseconds(period: u32) -> u32;
    fn proxy_get_buffer_bytes(
        buffer_type: u32,
        start: usize,
        max_size: usize,
        return_buffer_data: *mut *mut u8,
        return_buffer_size: *mut usize,
    ) -> u32;
    fn proxy_get_header_map_pairs(map_type: u32, return_map_data: *mut *mut u8, return_map_size: *mut usize) -> u32;
    fn proxy_get_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
    ) -> u32;
    fn proxy_replace_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32;
    fn proxy_remove_header_map_value(map_type: u32, key_data: *const u8, key_size: usize) -> u32;
    fn proxy_send_local_response(
        status_code: u32,
        status_code_details_data: *const u8,
        status_code_details_size: usize,
        body_data: *const u8,
        body_size: usize,
        headers_data: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> u32;
    fn proxy_continue_stream(stream_type: u32) -> u32;
    fn proxy_get_shared_data(
        key_data: *const u8,
        key_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
        return_cas: *mut u32,
    ) -> u32;
    fn proxy_set_shared_data(key_data: *const u8, key_size: usize, value_data: *const u8, value_size: usize, cas: u32) -> u32;
    fn proxy_set_effective_context(context_id: u32) -> u32;
    fn proxy_call_foreign_function(
        function_name_data: *const u8,
        function_name_size: usize,
        arguments_data: *const u8,
        arguments_size: usize,
        results_data: *mut *mut u8,
        results_size: *mut usize,
    ) -> u32;
    fn proxy_define_metric(metric_type: u32, name_data: *const u8, name_size: usize, return_id: *mut u32) -> u32;
    fn proxy_increment_metric(metric_id: u32, offset: i64) -> u32;
    fn proxy_record_metric(metric_id: u32, value: u64) -> u32;
    fn proxy_set_property(path_data: *const u8, path_size: usize, value_data: *const u8, value_size: usize) -> u32;
    fn proxy_get_property(
        path_data: *const u8,
        path_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
    ) -> u32;
    fn proxy_http_call(
        upstream_data: *const u8,
        upstream_size: usize,
        headers_data: *const u8,
        headers_size: usize,
        body_data: *const u8,
        body_size: usize,
        trailers_data: *const u8,
        trailers_size: usize,
        timeout_ms: u32,
        return_token: *mut u32,
    ) -> u32;
}

fn ok(status: u32) -> Result<(), Status> {
    if status == 0 {
        Ok(())
    } else {
        Err(Status(status))
    }
}

/// Takes ownership of a buffer the host allocated through `proxy_on_memory_allocate`.
///
/// # Safety
/// `data` must be null or a buffer of `size` bytes allocated by that function.
unsafe fn take(data: *mut u8, size: usize) -> Vec<u8> {
    if data.is_null() {
        Vec::new()
    } else {
        Vec::from_raw_parts(data, size, size)
    }
}

/// Writes a log line; errors are ignored (there is nowhere to report them).
pub fn log(level: Level, message: &str) {
    unsafe {
        let _ = proxy_log(level as u32, message.as_ptr(), message.len());
    }
}

/// The host's log level (Info when unknown).
pub fn log_level() -> Level {
    let mut l = 0u32;
    let status = unsafe { proxy_get_log_level(&mut l) };
    match (status, l) {
        (0, 0) => Level::Trace,
        (0, 1) => Level::Debug,
        (0, 3) => Level::Warn,
        (0, 4) => Level::Error,
        (0, 5) => Level::Critical,
        _ => Level::Info,
    }
}

/// Current time in milliseconds since the epoch (0 if the host does not answer).
pub fn now_ms() -> u64 {
    now_ns() / 1_000_000
}

/// Current time in nanoseconds since the epoch (0 if the host does not answer).
pub fn now_ns() -> u64 {
    let mut t = 0u64;
    let status = unsafe { proxy_get_current_time_nanoseconds(&mut t) };
    if status == 0 {
        t
    } else {
        0
    }
}

/// Sets the root context's tick period.
pub fn set_tick_period(period: Duration) -> Result<(), Status> {
    ok(unsafe { proxy_set_tick_period_milliseconds(u32::try_from(period.as_millis()).unwrap_or(u32::MAX)) })
}

/// Buffer types used here.
#[derive(Debug, Clone, Copy)]
#[repr(u32)]
pub enum Buffer {
    /// Body of a `dispatch_http_call` response.
    HttpCallResponseBody = 4,
    /// The VM configuration.
    VmConfiguration = 6,
    /// The plugin configuration.
    PluginConfiguration = 7,
}

/// Reads up to `max` bytes of a buffer.
pub fn buffer(kind: Buffer, max: usize) -> Result<Vec<u8>, Status> {
    let mut data = null_mut();
    let mut size = 0usize;
    let status = unsafe { proxy_get_buffer_bytes(kind as u32, 0, max, &mut data, &mut size) };
    match status {
        0 => Ok(unsafe { take(data, size) }),
        s => Err(Status(s)),
    }
}

fn read_u32(b: &[u8], at: usize) -> Option<usize> {
    let bytes: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(u32::from_le_bytes(bytes) as usize)
}

/// Parses the proxy-wasm serialized map format into pairs borrowed from `bytes` (no copy per
/// header), keeping values as bytes and refusing (rather than panicking on) anything
/// malformed. A name that is not UTF-8 (Envoy never passes one) is skipped.
pub fn decode_map(bytes: &[u8]) -> Option<Vec<(&str, &[u8])>> {
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    let n = read_u32(bytes, 0)?;
    let mut out = Vec::with_capacity(n.min(256));
    let mut p = 4usize.checked_add(n.checked_mul(8)?)?;
    for i in 0..n {
        let ks = read_u32(bytes, 4 + i * 8)?;
        let vs = read_u32(bytes, 8 + i * 8)?;
        let k = bytes.get(p..p.checked_add(ks)?)?;
        p = p.checked_add(ks)?.checked_add(1)?;
        let v = bytes.get(p..p.checked_add(vs)?)?;
        p = p.checked_add(vs)?.checked_add(1)?;
        if let Ok(k) = std::str::from_utf8(k) {
            out.push((k, v));
        }
    }
    Some(out)
}

/// Serialises header pairs in the proxy-wasm map format (count, sizes, then NUL-terminated
/// names and values), the format `decode_map` reads back.
pub fn encode_map<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
    for (k, v) in pairs {
        out.extend_from_slice(&(k.as_ref().len() as u32).to_le_bytes());
        out.extend_from_slice(&(v.as_ref().len() as u32).to_le_bytes());
    }
    for (k, v) in pairs {
        out.extend_from_slice(k.as_ref().as_bytes());
        out.push(0);
        out.extend_from_slice(v.as_ref().as_bytes());
        out.push(0);
    }
    out
}

/// All entries of a header map in the ABI's serialized form; read them with [`decode_map`].
/// One host call for every header is cheaper than one call per header.
pub fn map_raw(map: Map) -> Result<Vec<u8>, Status> {
    let mut data = null_mut();
    let mut size = 0usize;
    let status = unsafe { proxy_get_header_map_pairs(map as u32, &mut data, &mut size) };
    if status != 0 {
        return Err(Status(status));
    }
    Ok(unsafe { take(data, size) })
}

/// One header value as raw bytes.
pub fn map_value(map: Map, key: &str) -> Result<Option<Vec<u8>>, Status> {
    let mut data = null_mut();
    let mut size = 0usize;
    let status = unsafe { proxy_get_header_map_value(map as u32, key.as_ptr(), key.len(), &mut data, &mut size) };
    match status {
        0 => Ok(Some(unsafe { take(data, size) })),
        1 => Ok(None),
        s => Err(Status(s)),
    }
}

/// Sets (replaces) a header.
pub fn set_map_value(map: Map, key: &str, value: &str) -> Result<(), Status> {
    ok(unsafe { proxy_replace_header_map_value(map as u32, key.as_ptr(), key.len(), value.as_ptr(), value.len()) })
}

/// Removes a header (all its values).
pub fn remove_map_value(map: Map, key: &str) -> Result<(), Status> {
    ok(unsafe { proxy_remove_header_map_value(map as u32, key.as_ptr(), key.len()) })
}

/// Sends a local reply for the current HTTP context. `details` appears in Envoy's
/// `%RESPONSE_CODE_DETAILS%`.
pub fn send_local_response(status: u32, details: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<(), Status> {
    let h = encode_map(headers);
    ok(unsafe {
        proxy_send_local_response(status, details.as_ptr(), details.len(), body.as_ptr(), body.len(), h.as_ptr(), h.len(), -1)
    })
}

/// Resumes a paused request.
pub fn resume_request() -> Result<(), Status> {
    ok(unsafe { proxy_continue_stream(0) })
}

/// Reads shared data: the value (if any) and its cas (0 when absent).
pub fn get_shared(key: &str) -> Result<(Option<Vec<u8>>, u32), Status> {
    let mut data = null_mut();
    let mut size = 0usize;
    let mut cas = 0u32;
    let status = unsafe { proxy_get_shared_data(key.as_ptr(), key.len(), &mut data, &mut size, &mut cas) };
    match status {
        0 => Ok((Some(unsafe { take(data, size) }), cas)),
        1 => Ok((None, 0)),
        s => Err(Status(s)),
    }
}

/// Writes shared data; `cas == 0` writes unconditionally.
pub fn set_shared(key: &str, value: &[u8], cas: u32) -> Result<(), Status> {
    let ptr = if value.is_empty() { null() } else { value.as_ptr() };
    ok(unsafe { proxy_set_shared_data(key.as_ptr(), key.len(), ptr, value.len(), cas) })
}

/// Makes `context_id` the context later calls act on.
pub fn set_effective_context(context_id: u32) -> Result<(), Status> {
    ok(unsafe { proxy_set_effective_context(context_id) })
}

/// Calls a host foreign function.
pub fn call_foreign(name: &str, args: &[u8]) -> Result<Vec<u8>, Status> {
    let mut data = null_mut();
    let mut size = 0usize;
    let status =
        unsafe { proxy_call_foreign_function(name.as_ptr(), name.len(), args.as_ptr(), args.len(), &mut data, &mut size) };
    match status {
        0 => Ok(unsafe { take(data, size) }),
        s => Err(Status(s)),
    }
}

/// `BadArgument`: what Envoy answers for an HTTP call it cannot start (unknown cluster, missing
/// pseudo-header, negative timeout).
pub const BAD_ARGUMENT: Status = Status(2);

/// Why [`dispatch_http_call`] refuses its arguments itself, or `None` when they are fine. The
/// host reads the timeout as a signed 32-bit count of milliseconds, and needs `:method`,
/// `:path` and `:authority` (Envoy answers `BadArgument` otherwise); NUL bytes would cut a
/// name or value in the serialized header map.
pub fn http_call_problem(cluster: &str, headers: &[(&str, &str)], timeout: Duration) -> Option<&'static str> {
    if cluster.is_empty() || cluster.contains('\0') {
        return Some("empty cluster name or NUL byte in it");
    }
    if timeout.as_millis() > i32::MAX as u128 {
        return Some("timeout longer than 2^31-1 ms");
    }
    if headers.iter().any(|(k, v)| k.contains('\0') || v.contains('\0')) {
        return Some("NUL byte in a header");
    }
    for required in [":method", ":path", ":authority"] {
        if !headers.iter().any(|(k, v)| *k == required && !v.is_empty()) {
            return Some("missing :method, :path or :authority");
        }
    }
    None
}

/// Starts an HTTP call from the running context; the dispatcher routes the response to that
/// context's `on_http_call_response`. Arguments Envoy would refuse are refused here with
/// [`BAD_ARGUMENT`] and no host call.
pub fn dispatch_http_call(cluster: &str, headers: &[(&str, &str)], timeout: Duration) -> Result<u32, Status> {
    if http_call_problem(cluster, headers, timeout).is_some() {
        return Err(BAD_ARGUMENT);
    }
    let h = encode_map(headers);
    let trailers = encode_map::<&str, &str>(&[]);
    // Checked above: the timeout fits in an i32.
    let timeout_ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
    let mut token = 0u32;
    ok(unsafe {
        proxy_http_call(
            cluster.as_ptr(),
            cluster.len(),
            h.as_ptr(),
            h.len(),
            null(),
            0,
            trailers.as_ptr(),
            trailers.len(),
            timeout_ms,
            &mut token,
        )
    })?;
    crate::dispatch::register_call(token);
    Ok(token)
}

/// Metric kinds (proxy-wasm ABI values).
#[derive(Debug, Clone, Copy)]
#[repr(u32)]
pub enum MetricKind {
    /// A counter.
    Counter = 0,
    /// A gauge.
    Gauge = 1,
}

/// Defines (or finds) a metric.
pub fn define_metric(kind: MetricKind, name: &str) -> Result<u32, Status> {
    let mut id = 0u32;
    ok(unsafe { proxy_define_metric(kind as u32, name.as_ptr(), name.len(), &mut id) })?;
    Ok(id)
}

/// Adds to a counter or gauge.
pub fn increment_metric(id: u32, by: i64) {
    unsafe {
        let _ = proxy_increment_metric(id, by);
    }
}

/// Sets a gauge.
pub fn record_metric(id: u32, value: u64) {
    unsafe {
        let _ = proxy_record_metric(id, value);
    }
}

/// Sets an Envoy property (path segments joined with NUL, as the ABI wants).
pub fn set_property(path: &[&str], value: &[u8]) -> Result<(), Status> {
    let joined = path.join("\0");
    ok(unsafe { proxy_set_property(joined.as_ptr(), joined.len(), value.as_ptr(), value.len()) })
}

/// Reads an Envoy property (path segments joined with NUL); `None` when it is absent.
pub fn property(path: &[&str]) -> Result<Option<Vec<u8>>, Status> {
    let joined = path.join("\0");
    let mut data = null_mut();
    let mut size = 0usize;
    let status = unsafe { proxy_get_property(joined.as_ptr(), joined.len(), &mut data, &mut size) };
    match status {
        0 if data.is_null() => Ok(None),
        0 => Ok(Some(unsafe { take(data, size) })),
        1 => Ok(None),
        s => Err(Status(s)),
    }
}

/// The buffer the host copies a value into: exactly `size` bytes (so [`take`] frees it with
/// the same layout), or null when that much cannot be had, which makes the host call that
/// wanted it fail instead of aborting the VM.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
fn allocate(size: usize) -> *mut u8 {
    let mut buffer: Vec<u8> = Vec::new();
    if buffer.try_reserve_exact(size).is_err() {
        return null_mut();
    }
    std::mem::ManuallyDrop::new(buffer).as_mut_ptr()
}

// The exports Envoy calls. Wasm only: a native build (the tests) has no host to call them.

/// Tells the host which ABI the module speaks.
#[cfg(target_arch = "wasm32")]
#[no_mangle]
pub extern "C" fn proxy_abi_version_0_2_1() {}

/// The host allocates here the buffers it hands to the module.
#[cfg(target_arch = "wasm32")]
#[no_mangle]
pub extern "C" fn proxy_on_memory_allocate(size: usize) -> *mut u8 {
    allocate(size)
}

/// A root context (`root_context_id` 0) or an HTTP context is created.
#[cfg(target_arch = "wasm32")]
#[no_mangle]
pub extern "C" fn proxy_on_context_create(context_id: u32, root_context_id: u32) {
    crate::dispatch::context_create(context_id, root_context_id);
}

/// A root context's plugin configuration; 0 rejects it.
#[cfg(target_arch = "wasm32")]
#[no_mangle]
pub extern "C" fn proxy_on_configure(context_id: u32, configuration_size: usize) -> u32 {
    u32::from(crate::dispatch::configure(context_id, configuration_size))
}

/// A root context's tick.
#[cfg(target_arch = "wasm32")]
#[no_mangle]
pub extern "C" fn proxy_on_tick(context_id: u32) {
    crate::dispatch::tick(context_id);
}

/// A request's headers; answers 0 (Continue) or 1 (Pause).
#[cfg(target_arch = "wasm32")]
#[no_mangle]
pub extern "C" fn proxy_on_request_headers(context_id: u32, headers: usize, end_of_stream: u32) -> u32 {
    crate::dispatch::request_headers(context_id, headers, end_of_stream != 0) as u32
}

/// A `dispatch_http_call` finished (`context_id` is the host's side of the context that made
/// it; the dispatcher goes by the token).
#[cfg(target_arch = "wasm32")]
#[no_mangle]
pub extern "C" fn proxy_on_http_call_response(_context_id: u32, token: u32, headers: usize, body_size: usize, trailers: usize) {
    crate::dispatch::http_call_response(token, headers, body_size, trailers);
}

/// A context is finishing; 1 when it is done at once.
#[cfg(target_arch = "wasm32")]
#[no_mangle]
pub extern "C" fn proxy_on_done(context_id: u32) -> u32 {
    u32::from(crate::dispatch::done(context_id))
}

/// A context is gone.
#[cfg(target_arch = "wasm32")]
#[no_mangle]
pub extern "C" fn proxy_on_delete(context_id: u32) {
    crate::dispatch::delete(context_id);
}

#[cfg(target_arch = "wasm32")]
extern "C" {
    /// The linker's constructor runner (wasi-libc's start-up, Rust statics that need it).
    fn __wasm_call_ctors();
}

/// Runs the module's constructors: the first thing `_initialize` does.
#[cfg(target_arch = "wasm32")]
pub fn call_ctors() {
    unsafe { __wasm_call_ctors() }
}

/// Defines the module's `_initialize` export, which the host calls once when it starts the VM,
/// before any other callback and before host calls are allowed: it runs the constructors, then
/// `$init` (install the logger, [`crate::dispatch::set_root_factory`]). Use it once, in the
/// module's crate (cdylib). Expanded in that crate, yet the unsafe it needs (the export) is
/// written here.
#[macro_export]
macro_rules! main {
    ($init:block) => {
        #[no_mangle]
        pub extern "C" fn _initialize() {
            $crate::abi::call_ctors();
            $init
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_codec_round_trips_and_refuses_garbage() {
        let enc = encode_map(&[("a", "1"), ("authorization", "Bearer x")]);
        let dec = decode_map(&enc).unwrap();
        assert_eq!(dec, vec![("a", &b"1"[..]), ("authorization", &b"Bearer x"[..])]);
        assert_eq!(decode_map(&[]), Some(vec![]));
        assert_eq!(decode_map(&[1, 0, 0]), None);
        assert_eq!(decode_map(&[255, 255, 255, 255, 0, 0, 0, 0]), None);
        let mut truncated = enc.clone();
        truncated.truncate(enc.len() - 3);
        assert_eq!(decode_map(&truncated), None);
    }

    #[test]
    fn allocations_are_exactly_the_size_asked_and_freed_by_take() {
        for size in [0usize, 1, 7, 4096] {
            let p = allocate(size);
            assert!(!p.is_null());
            let v = unsafe { take(p, size) };
            assert_eq!((v.len(), v.capacity()), (size, size));
        }
        assert!(allocate(usize::MAX).is_null(), "too much is null, not a panic");
    }

    #[test]
    fn http_call_arguments_envoy_refuses_are_refused_here() {
        let ok = [(":method", "GET"), (":path", "/jwks"), (":authority", "idp")];
        let t = Duration::from_secs(5);
        assert_eq!(http_call_problem("idp", &ok, t), None);
        assert!(http_call_problem("", &ok, t).is_some());
        assert!(http_call_problem("i\0dp", &ok, t).is_some());
        assert!(http_call_problem("idp", &ok, Duration::from_millis(i32::MAX as u64 + 1)).is_some());
        assert_eq!(http_call_problem("idp", &ok, Duration::from_millis(i32::MAX as u64)), None);
        assert!(http_call_problem("idp", &ok[..2], t).is_some());
        assert!(http_call_problem("idp", &[(":method", "GET"), (":path", ""), (":authority", "idp")], t).is_some());
        assert!(http_call_problem("idp", &[(":method", "GET"), (":path", "/a\0"), (":authority", "idp")], t).is_some());
    }
}
