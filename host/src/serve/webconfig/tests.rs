use super::*;
use proptest::prelude::*;

fn parse(text: &str) -> Result<WebConfigFile, String> {
    WebConfigFile::parse(text)
}

fn check(text: &str, base: &Path) -> Result<WebConfig, String> {
    WebConfig::from_parsed(Path::new("web.yml"), parse(text)?, base)
}

/// A CA and a server certificate signed by it, written to `dir` as ca.pem, server.pem, server.key.
fn certificates(dir: &Path) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name.push(rcgen::DnType::CommonName, "test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let server = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap().signed_by(&key, &issuer).unwrap();
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    std::fs::write(dir.join("server.pem"), server.pem()).unwrap();
    std::fs::write(dir.join("server.key"), key.serialize_pem()).unwrap();
}

#[test]
fn unknown_keys_are_named() {
    for (text, key) in [
        ("basic_auth_user:\n  a: b\n", "basic_auth_user"),
        ("tls_server_config:\n  cert_fil: x\n", "cert_fil"),
        ("http_server_config:\n  http3: true\n", "http3"),
        ("rate_limit:\n  interval: 1s\n  bursts: 2\n", "bursts"),
    ] {
        let error = parse(text).unwrap_err();
        assert!(error.contains(key), "{text:?}: {error}");
    }
    assert_eq!(parse("").unwrap(), WebConfigFile::default());
    assert_eq!(parse("# nothing\n").unwrap(), WebConfigFile::default());
    assert!(parse("[1, 2]").is_err());
}

#[test]
fn users_need_bcrypt_hashes() {
    let good = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";
    let config = check(&format!("basic_auth_users:\n  alice: \"{good}\"\n"), Path::new(".")).unwrap();
    assert_eq!(config.users.get("alice").map(String::as_str), Some(good));
    let error = check("basic_auth_users:\n  alice: plaintext\n", Path::new(".")).unwrap_err();
    assert!(error.contains("basic_auth_users.alice") && error.contains("bcrypt"), "{error}");
    let error = check(&format!("basic_auth_users:\n  \"a:b\": \"{good}\"\n"), Path::new(".")).unwrap_err();
    assert!(error.contains("a:b"), "{error}");
}

#[test]
fn only_the_five_headers_with_their_values() {
    let config = check(
        "http_server_config:\n  headers:\n    X-Frame-Options: deny\n    Strict-Transport-Security: max-age=31536000\n    X-XSS-Protection: \"\"\n",
        Path::new("."),
    )
    .unwrap();
    let names: Vec<&str> = config.headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["strict-transport-security", "x-frame-options"], "blank ones are unset");
    let error = check("http_server_config:\n  headers:\n    X-Frame-Options: allow\n", Path::new(".")).unwrap_err();
    assert!(error.contains("X-Frame-Options") && error.contains("allow"), "{error}");
    let error = check("http_server_config:\n  headers:\n    Set-Cookie: a=b\n", Path::new(".")).unwrap_err();
    assert!(error.contains("Set-Cookie"), "{error}");
}

#[test]
fn tls_from_relative_files_with_client_certificates() {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path());
    let text = "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n  min_version: TLS13\n";
    let config = check(text, dir.path()).unwrap();
    assert!(config.tls.is_some());
    assert_eq!(config.client_auth, ClientAuth::RequireAndVerify);
    let text = "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ca.pem\n  client_allowed_sans: [prometheus.example, 10.0.0.1]\n  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]\n  curve_preferences: [X25519, CurveP256]\n";
    assert_eq!(check(text, dir.path()).unwrap().client_auth, ClientAuth::VerifyIfGiven);
}

#[test]
fn tls_mistakes_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path());
    let base = "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n";
    for (extra, needle) in [
        ("  client_ca_file: ca.pem\n", "Client Auth Policy"),
        ("  client_auth_type: RequireAnyClientCert\n", "RequireAnyClientCert"),
        ("  client_auth_type: RequestClientCert\n", "RequestClientCert"),
        ("  client_auth_type: Sometimes\n", "Sometimes"),
        ("  client_auth_type: RequireAndVerifyClientCert\n", "client_ca_file"),
        ("  min_version: TLS10\n", "TLS10"),
        ("  min_version: TLS13\n  max_version: TLS12\n", "min_version"),
        ("  cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]\n", "TLS_RSA_WITH_RC4_128_SHA"),
        ("  curve_preferences: [CurveP224]\n", "CurveP224"),
        ("  cert: inline\n", "not both"),
        ("  client_allowed_sans: [a.example]\n", "client_allowed_sans"),
    ] {
        let error = check(&format!("{base}{extra}"), dir.path()).unwrap_err();
        assert!(error.contains(needle), "{extra:?}: {error}");
    }
    let error =
        check("tls_server_config:\n  cert_file: missing.pem\n  key_file: server.key\n", dir.path()).unwrap_err();
    assert!(error.contains("missing.pem"), "{error}");
    let error = check("tls_server_config:\n  key_file: server.key\n", dir.path()).unwrap_err();
    assert!(error.contains("cert or cert_file"), "{error}");
}

#[test]
fn load_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("web.yml");
    std::fs::write(&file, "basic_auth_userz: {}\n").unwrap();
    let error = WebConfig::load(&file).unwrap_err().to_string();
    assert!(error.contains("web.yml") && error.contains("basic_auth_userz"), "{error}");
    let error = WebConfig::load(&dir.path().join("absent.yml")).unwrap_err().to_string();
    assert!(error.contains("absent.yml"), "{error}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(crate::serve::proptest_cases()))]
    #[test]
    fn any_text_parses_or_fails_cleanly(text in "\\PC{0,200}") {
        let _ = parse(&text);
    }

    #[test]
    fn yaml_shaped_text_parses_or_fails_cleanly(
        key in prop::sample::select(vec!["tls_server_config", "http_server_config", "basic_auth_users", "rate_limit", "x"]),
        inner in prop::sample::select(vec!["cert_file", "headers", "interval", "burst", "http2", "a", "client_auth_type"]),
        value in "[ -~]{0,30}",
    ) {
        let text = format!("{key}:\n  {inner}: {value}\n");
        if let Ok(parsed) = parse(&text) {
            let _ = WebConfig::from_parsed(Path::new("web.yml"), parsed, Path::new("/nonexistent"));
        }
    }
}
