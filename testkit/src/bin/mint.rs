//! `mint`: prints a JWKS or a token from the fixture keys (for quick manual checks and the bench).
//! Usage: `mint jwks` | `mint jwks-bench` | `mint token <iss> <client_id> <username>` |
//! `mint verify-probe` (the configuration of `bench/host-verify`: the RSA key's SubjectPublicKeyInfo,
//! a bench token's signature, both in hex, and its signing input, joined by `:`).

use base64::Engine;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let key = testkit::rsa_a();
    match args.get(1).map(String::as_str) {
        Some("jwks") => println!("{}", testkit::jwks(&[&key])),
        Some("jwks-bench") => println!("{}", testkit::jwks(&[&key, &testkit::p256()])),
        Some("token") => {
            let claims = testkit::cognito_access(&args[2], &args[3], &args[4]);
            println!("{}", key.token(&claims));
        }
        Some("verify-probe") => {
            let iss = testkit::cognito_issuer("us-east-1", "us-east-1_BenchPool");
            let token = key.token(&testkit::cognito_access(&iss, "bench-client", "user"));
            let (signing_input, sig) = token.rsplit_once('.').unwrap();
            let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(sig).unwrap();
            println!("{}:{}:{signing_input}", hex(&key.public_der()), hex(&sig));
        }
        _ => eprintln!("usage: mint jwks | mint jwks-bench | mint token <iss> <client_id> <username> | mint verify-probe"),
    }
}
