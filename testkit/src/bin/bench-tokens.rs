//! `bench-tokens`: writes distinct valid Cognito access tokens, one per line, for `make bench`.
//! Usage: `bench-tokens <count> <out-file> [RS256|ES256|EdDSA]`. Each token has its own `jti`
//! and `username`, so every one is a new signature for the filter.

use std::io::Write;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let count: usize = args.get(1).and_then(|c| c.parse().ok()).unwrap_or(3000);
    let out = args.get(2).cloned().unwrap_or_else(|| "tokens.txt".into());
    let key = match args.get(3).map(String::as_str) {
        Some("ES256") => testkit::p256(),
        Some("EdDSA") => testkit::ed25519(),
        _ => testkit::rsa_a(),
    };
    let iss = testkit::cognito_issuer("us-east-1", "us-east-1_BenchPool");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&out)?);
    let mut base = testkit::cognito_access(&iss, "bench-client", "user");
    base["exp"] = serde_json::json!(testkit::now() + 6 * 3600);
    for i in 0..count {
        base["jti"] = serde_json::json!(format!("bench-{i}"));
        base["username"] = serde_json::json!(format!("user{i}"));
        writeln!(f, "{}", key.token(&base))?;
    }
    f.flush()?;
    eprintln!("bench-tokens: wrote {count} {} tokens to {out}", key.alg);
    Ok(())
}
