//! `mint`: prints a JWKS or a token from the fixture keys (for quick manual checks).
//! Usage: `mint jwks` | `mint jwks-bench` | `mint token <iss> <client_id> <username>`

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
        _ => eprintln!("usage: mint jwks | mint token <iss> <client_id> <username>"),
    }
}
