//! Test-owned HTTP servers on 127.0.0.1: the JWKS endpoint (counts requests; can serve, fail,
//! stall, or be stopped and restarted on the same port) and the upstream (records every request
//! it receives and echoes it as JSON).

use serde_json::{json, Map, Value};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the server answers.
#[derive(Debug, Clone)]
pub enum Behavior {
    /// 200 with this body (`application/json`).
    Json(String),
    /// This status with a small body.
    Status(u16),
    /// 200 with a body that is not JSON.
    Garbage,
    /// Waits this long, then answers with the inner behavior.
    Slow(Duration, Box<Behavior>),
    /// Echoes the request (method, path, headers) as JSON: the upstream.
    Echo,
    /// Picks a behavior by exact path (query excluded); 404 for other paths.
    Routes(Vec<(String, Behavior)>),
}

/// A request the server received.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Method.
    pub method: String,
    /// Path with query.
    pub path: String,
    /// Headers (lower-case names), duplicates kept.
    pub headers: Vec<(String, String)>,
}

impl Seen {
    /// The values of a header.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect()
    }

    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.all(name).first().copied()
    }
}

struct Shared {
    behavior: Mutex<Behavior>,
    seen: Mutex<Vec<Seen>>,
    count: AtomicUsize,
    stop: AtomicBool,
}

/// A server on a fixed port.
pub struct Server {
    /// Its port.
    pub port: u16,
    shared: Arc<Shared>,
    /// The accept loop, while listening; it owns the listener.
    accepting: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Starts on a free port.
    pub fn start(behavior: Behavior) -> Server {
        let mut s = Server::reserve(behavior);
        s.resume();
        s
    }

    /// The upstream: echoes requests and records them.
    pub fn upstream() -> Server {
        Server::start(Behavior::Echo)
    }

    /// A JWKS endpoint serving this document.
    pub fn jwks(doc: &Value) -> Server {
        Server::start(Behavior::Json(doc.to_string()))
    }

    /// Picks a port but does not listen yet (connections are refused until [`Server::resume`]).
    pub fn reserve(behavior: Behavior) -> Server {
        Server {
            port: super::free_port(),
            shared: Arc::new(Shared {
                behavior: Mutex::new(behavior),
                seen: Mutex::new(Vec::new()),
                count: AtomicUsize::new(0),
                stop: AtomicBool::new(false),
            }),
            accepting: None,
        }
    }

    /// Starts (or restarts) listening on the same port.
    pub fn resume(&mut self) {
        if self.accepting.is_some() {
            return;
        }
        // The port is this server's alone (`free_port` never hands it out twice), and the
        // previous listener was closed when its accept loop ended (`stop` joins it).
        // Another process may hold it for a moment (an outgoing connection's local port).
        let mut listener = None;
        let bound = super::wait_until(super::EVENT, &mut || {
            listener = TcpListener::bind(("127.0.0.1", self.port)).ok();
            listener.is_some()
        });
        assert!(bound, "port {} stayed busy for {:?}", self.port, super::EVENT);
        let listener = listener.unwrap();
        listener.set_nonblocking(true).unwrap();
        self.shared.stop.store(false, Ordering::SeqCst);
        let shared = Arc::clone(&self.shared);
        self.accepting = Some(std::thread::spawn(move || loop {
            if shared.stop.load(Ordering::SeqCst) {
                return;
            }
            match listener.accept() {
                Ok((stream, _)) => {
                    let shared = Arc::clone(&shared);
                    std::thread::spawn(move || serve(stream, &shared));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }));
    }

    /// Stops listening: once it returns, new connections are refused (the accept loop has
    /// ended and closed the listener).
    pub fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.accepting.take() {
            t.join().unwrap();
        }
    }

    /// Changes what it answers.
    pub fn set(&self, behavior: Behavior) {
        *self.shared.behavior.lock().unwrap() = behavior;
    }

    /// Serves this JSON document.
    pub fn set_json(&self, doc: &Value) {
        self.set(Behavior::Json(doc.to_string()));
    }

    /// Requests received so far.
    pub fn count(&self) -> usize {
        self.shared.count.load(Ordering::SeqCst)
    }

    /// All requests received.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// The last request received.
    pub fn last(&self) -> Option<Seen> {
        self.shared.seen.lock().unwrap().last().cloned()
    }

    /// Forgets what it saw.
    pub fn clear(&self) {
        self.shared.seen.lock().unwrap().clear();
        self.shared.count.store(0, Ordering::SeqCst);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
    }
}

fn read_request(stream: &mut TcpStream) -> Option<Seen> {
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string())).collect();
    let len: usize = headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let mut have = buf.len() - end - 4;
    while have < len {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        have += n;
    }
    Some(Seen { method, path, headers })
}

fn serve(mut stream: TcpStream, shared: &Shared) {
    let Some(req) = read_request(&mut stream) else { return };
    shared.count.fetch_add(1, Ordering::SeqCst);
    shared.seen.lock().unwrap().push(req.clone());
    let mut behavior = shared.behavior.lock().unwrap().clone();
    loop {
        match behavior {
            Behavior::Slow(d, inner) => {
                std::thread::sleep(d);
                behavior = *inner;
            }
            Behavior::Routes(routes) => {
                let path = req.path.split('?').next().unwrap_or_default();
                behavior = routes.into_iter().find(|(p, _)| p == path).map_or(Behavior::Status(404), |(_, b)| b);
            }
            _ => break,
        }
    }
    let (status, body, ctype) = match behavior {
        Behavior::Json(b) => (200, b, "application/json"),
        Behavior::Status(s) => (s, format!("{{\"status\":{s}}}"), "application/json"),
        Behavior::Garbage => (200, "<html>this is not a JWKS</html>".to_string(), "text/html"),
        Behavior::Echo => {
            let mut h = Map::new();
            for (k, v) in &req.headers {
                h.entry(k.clone()).or_insert(Value::String(v.clone()));
            }
            (200, json!({"method": req.method, "path": req.path, "headers": h}).to_string(), "application/json")
        }
        Behavior::Slow(..) | Behavior::Routes(_) => unreachable!(),
    };
    let reason = if status == 200 { "OK" } else { "Status" };
    let resp = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(resp.as_bytes());
}
