//! `demo-backend`: a backend shaped like the ones our users run behind Envoy (Cruddur's
//! Flask app): it trusts Envoy to have verified the token and reads the user from the
//! `X-Current-User` header as JSON, exactly as `json.loads(request.headers["X-Current-User"])`.
//!
//! - `GET /api/activities/home`: personalised activities for a signed-in user, public ones
//!   otherwise.
//! - anything else: echoes the method, path, and the user it was given.
//!
//! Flags (or env): `--listen 127.0.0.1:9200` (BACKEND_LISTEN).

use serde_json::{json, Value};
use testkit::httpd::{serve, Reply};

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let listen = args
        .iter()
        .position(|a| a == "--listen")
        .and_then(|i| args.get(i + 1).cloned())
        .or_else(|| std::env::var("BACKEND_LISTEN").ok())
        .unwrap_or_else(|| "127.0.0.1:9200".into());
    testkit::httpd::exit_on_signals("demo-backend")?;
    eprintln!("demo-backend: listening on {listen}");
    serve(&listen.clone(), |req| {
        let user: Option<Value> = req.header("x-current-user").and_then(|h| serde_json::from_str(h).ok());
        let username =
            user.as_ref().and_then(|u| u.get("username").or_else(|| u.get("cognito:username"))).and_then(Value::as_str);
        match req.path.as_str() {
            "/api/activities/home" => match username {
                Some(name) => Reply::json(&json!({
                    "feed": "personalised",
                    "user": name,
                    "activities": [
                        {"handle": name, "message": format!("Welcome back, {name}!")},
                        {"handle": "andrew", "message": "Cloud is fun!"},
                    ]
                })),
                None => Reply::json(&json!({
                    "feed": "public",
                    "activities": [{"handle": "andrew", "message": "Cloud is fun!"}]
                })),
            },
            "/healthz" => Reply::text(200, "ok\n"),
            _ => Reply::json(&json!({"method": req.method, "path": req.path, "x-current-user": user})),
        }
    })
}
