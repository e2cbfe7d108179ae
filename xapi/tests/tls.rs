//! TLS: pinned fingerprint (accepted / refused), CA bundle, system roots refusing a
//! self-signed lab certificate, explicit insecure.

mod common;

use common::*;
use xapi::{Error, Fingerprint, TlsOptions};

#[tokio::test]
async fn pinned_fingerprint_is_accepted() {
    let (lab, pem) = Lab::start_tls().await;
    assert!(lab.url.starts_with("https://"));
    let fp = Fingerprint::of_pem(pem.as_bytes()).unwrap();
    // Accept the printed form, as a user would paste it.
    let fp: Fingerprint = fp.to_string().parse().unwrap();
    let c = lab.client_with_tls(TlsOptions::Pinned {
        fingerprints: vec![fp],
    });
    assert_eq!(c.host().get_all().await.unwrap().len(), 3);
}

#[tokio::test]
async fn wrong_fingerprint_is_refused() {
    let (lab, _pem) = Lab::start_tls().await;
    let c = lab.client_with_tls(TlsOptions::Pinned {
        fingerprints: vec![Fingerprint([0x42; 32])],
    });
    let e = c.login().await.unwrap_err();
    // A TLS failure happens while connecting: nothing was sent.
    assert!(matches!(e, Error::Connect { .. }), "{e}");
    let chain = format!("{e} {:?}", std::error::Error::source(&e));
    assert!(
        chain.contains("fingerprint") || chain.to_lowercase().contains("certificate"),
        "{chain}"
    );
    assert!(!c.is_logged_in());
    // A refused certificate is not retried.
    assert_eq!(c.call_counts()["session.login_with_password"], 1);
}

#[tokio::test]
async fn ca_bundle_is_accepted() {
    let (lab, pem) = Lab::start_tls().await;
    let c = lab.client_with_tls(TlsOptions::CaBundle {
        pem: pem.into_bytes(),
    });
    assert_eq!(c.pool().get_all().await.unwrap().len(), 1);
}

#[tokio::test]
async fn other_ca_and_system_roots_are_refused() {
    let (lab, _pem) = Lab::start_tls().await;
    let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    let c = lab.client_with_tls(TlsOptions::CaBundle {
        pem: other.cert.pem().into_bytes(),
    });
    assert!(matches!(
        c.login().await.unwrap_err(),
        Error::Connect { .. }
    ));
    let c = lab.client_with_tls(TlsOptions::SystemRoots);
    assert!(matches!(
        c.login().await.unwrap_err(),
        Error::Connect { .. }
    ));
}

#[tokio::test]
async fn insecure_must_be_explicit_and_works() {
    let (lab, _pem) = Lab::start_tls().await;
    let c = lab.client_with_tls(TlsOptions::Insecure);
    assert_eq!(c.pool().get_all().await.unwrap().len(), 1);
}
