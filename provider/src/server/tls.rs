//! AutoMTLS as go-plugin does it, with rustls and aws-lc-rs.
//!
//! - The plugin generates a fresh self-signed server certificate per run (ECDSA
//!   P-256, DNS SAN `localhost`, marked CA like go-plugin's own) and announces its
//!   DER in the handshake line; the client trusts exactly that certificate.
//! - The client's certificate arrives in `PLUGIN_CLIENT_CERT`. It is self-signed
//!   and marked CA, which webpki refuses as an end entity, so verification is
//!   a pin: the presented end-entity certificate must be byte-for-byte the one
//!   from the environment, and the handshake signature is checked with
//!   aws-lc-rs (which supports the ECDSA P-521/SHA-512 that go-plugin uses).
//! - A client certificate is mandatory; ALPN is `h2` (grpc-go >= 1.67 requires it).

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme};

/// TLS setup failures.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate could not be generated.
    #[error("generating the server certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// The pinned client certificate is not PEM.
    #[error("PLUGIN_CLIENT_CERT is not a PEM certificate: {0}")]
    ClientCertPem(String),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The server's certificate and key for one run.
pub struct ServerIdentity {
    /// Certificate, DER.
    pub cert_der: CertificateDer<'static>,
    key_der: PrivatePkcs8KeyDer<'static>,
}

impl std::fmt::Debug for ServerIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerIdentity").finish_non_exhaustive()
    }
}

impl ServerIdentity {
    /// Generates a self-signed certificate for `localhost`, valid from 30 s ago
    /// for one year.
    pub fn generate() -> Result<Self, TlsError> {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
            KeyUsagePurpose,
        };
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::new(vec!["localhost".to_owned()])?;
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params
            .distinguished_name
            .push(DnType::OrganizationName, "terraform-provider-xenapi");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
            KeyUsagePurpose::KeyAgreement,
            KeyUsagePurpose::KeyCertSign,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::seconds(30);
        params.not_after = now + time::Duration::days(365);
        let cert = params.self_signed(&key)?;
        Ok(ServerIdentity {
            cert_der: cert.der().clone(),
            key_der: PrivatePkcs8KeyDer::from(key.serialize_der()),
        })
    }
}

/// The aws-lc-rs crypto provider used for everything TLS here.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Accepts exactly one client certificate.
#[derive(Debug)]
pub struct PinnedClientCertVerifier {
    pinned: CertificateDer<'static>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinnedClientCertVerifier {
    /// Pins the first certificate of `pem`.
    pub fn from_pem(pem: &str, provider: &CryptoProvider) -> Result<Self, TlsError> {
        let pinned = CertificateDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| TlsError::ClientCertPem(e.to_string()))?;
        Ok(PinnedClientCertVerifier {
            pinned,
            algorithms: provider.signature_verification_algorithms,
        })
    }
}

impl ClientCertVerifier for PinnedClientCertVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.pinned.as_ref() {
            Ok(ClientCertVerified::assertion())
        } else {
            tracing::warn!("refused a TLS client whose certificate is not PLUGIN_CLIENT_CERT");
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The server TLS configuration: our identity, the pinned client certificate
/// (mandatory), TLS 1.2/1.3, ALPN `h2`.
pub fn server_config(
    identity: &ServerIdentity,
    client_cert_pem: &str,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = crypto_provider();
    let verifier = Arc::new(PinnedClientCertVerifier::from_pem(
        client_cert_pem,
        &provider,
    )?);
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::DEFAULT_VERSIONS)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![identity.cert_der.clone()],
            PrivateKeyDer::Pkcs8(identity.key_der.clone_key()),
        )?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_certificate_is_for_localhost_and_config_offers_h2() {
        let id = ServerIdentity::generate().unwrap();
        assert!(id.cert_der.len() > 50);
        // "localhost" appears in the SAN (and CN) of the DER.
        assert!(id.cert_der.windows(9).any(|w| w == b"localhost"));
        let client = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let cfg = server_config(&id, &client.cert.pem()).unwrap();
        assert_eq!(cfg.alpn_protocols, vec![b"h2".to_vec()]);
    }

    #[test]
    fn bad_pem_is_an_error() {
        let id = ServerIdentity::generate().unwrap();
        assert!(matches!(
            server_config(&id, "not a certificate"),
            Err(TlsError::ClientCertPem(_))
        ));
    }

    #[test]
    fn pin_accepts_only_the_exact_certificate_and_p521_is_supported() {
        let provider = crypto_provider();
        let a = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let b = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let v = PinnedClientCertVerifier::from_pem(&a.cert.pem(), &provider).unwrap();
        assert!(v.client_auth_mandatory());
        assert!(
            v.verify_client_cert(a.cert.der(), &[], UnixTime::now())
                .is_ok()
        );
        assert!(
            v.verify_client_cert(b.cert.der(), &[], UnixTime::now())
                .is_err()
        );
        assert!(
            v.supported_verify_schemes()
                .contains(&SignatureScheme::ECDSA_NISTP521_SHA512)
        );
    }
}
