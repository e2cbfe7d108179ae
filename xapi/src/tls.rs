//! TLS trust options for connections to XAPI.
//!
//! TLS is verified by default ([`TlsOptions::SystemRoots`]). Pools with self-signed
//! certificates can be trusted with a CA bundle ([`TlsOptions::CaBundle`]) or by pinning the
//! SHA-256 fingerprint of each host's leaf certificate ([`TlsOptions::Pinned`]). Turning
//! verification off needs the explicit [`TlsOptions::Insecure`].
//!
//! The crypto provider is rustls' aws-lc-rs provider; no OpenSSL or native-tls is used.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

use crate::error::Error;

/// How the server's certificate is trusted (only used for `https://` URLs).
#[derive(Clone, Default)]
pub enum TlsOptions {
    /// Verify the chain against the operating system's trust store and the host name.
    #[default]
    SystemRoots,
    /// Verify the chain against the certificates in this PEM bundle (and the host name).
    CaBundle {
        /// PEM text with one or more `CERTIFICATE` blocks.
        pem: Vec<u8>,
    },
    /// Accept exactly the servers whose leaf certificate has one of these SHA-256
    /// fingerprints (chain, name and validity dates are not checked: the pin is the trust).
    /// A pool whose hosts have their own certificates needs one fingerprint per host, since
    /// the client follows `HOST_IS_SLAVE` to the master.
    Pinned {
        /// Accepted leaf fingerprints.
        fingerprints: Vec<Fingerprint>,
    },
    /// Accept any certificate. Only for throw-away labs; must be chosen explicitly.
    Insecure,
}

impl fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsOptions::SystemRoots => f.write_str("SystemRoots"),
            TlsOptions::CaBundle { pem } => write!(f, "CaBundle({} bytes)", pem.len()),
            TlsOptions::Pinned { fingerprints } => f
                .debug_struct("Pinned")
                .field("fingerprints", fingerprints)
                .finish(),
            TlsOptions::Insecure => f.write_str("Insecure"),
        }
    }
}

/// A SHA-256 certificate fingerprint.
///
/// Parsed from 64 hex digits, optionally separated by `:` (as `openssl x509 -fingerprint
/// -sha256` prints them) and optionally prefixed with `sha256:`/`SHA256 Fingerprint=`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// The fingerprint of a DER-encoded certificate.
    pub fn of_der(der: &[u8]) -> Self {
        Fingerprint(Sha256::digest(der).into())
    }

    /// The fingerprint of the first certificate in a PEM text.
    pub fn of_pem(pem: &[u8]) -> Result<Self, Error> {
        let first = CertificateDer::pem_slice_iter(pem)
            .next()
            .ok_or_else(|| Error::Tls("no CERTIFICATE block in PEM".into()))?
            .map_err(|e| Error::Tls(format!("invalid PEM: {e}")))?;
        Ok(Fingerprint::of_der(first.as_ref()))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

impl FromStr for Fingerprint {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let mut t = s.trim();
        for prefix in ["sha256 fingerprint=", "sha256:", "sha256="] {
            if t.len() >= prefix.len() && t[..prefix.len()].eq_ignore_ascii_case(prefix) {
                t = t[prefix.len()..].trim();
            }
        }
        let hex_digits: String = t.chars().filter(|c| *c != ':' && *c != ' ').collect();
        let bytes = hex::decode(&hex_digits).map_err(|_| {
            Error::Tls(format!(
                "fingerprint {s:?} is not hex (expected 32 bytes as 64 hex digits)"
            ))
        })?;
        let arr: [u8; 32] = bytes.try_into().map_err(|_| {
            Error::Tls(format!(
                "fingerprint {s:?} is not a SHA-256 fingerprint (expected 32 bytes)"
            ))
        })?;
        Ok(Fingerprint(arr))
    }
}

/// The crypto provider used for every connection (aws-lc-rs).
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Builds the rustls client configuration for these options.
pub(crate) fn client_config(opts: &TlsOptions) -> Result<ClientConfig, Error> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?;
    let mut config = match opts {
        TlsOptions::SystemRoots => {
            use rustls_platform_verifier::BuilderVerifierExt;
            builder
                .with_platform_verifier()
                .map_err(|e| Error::Tls(format!("system trust store: {e}")))?
                .with_no_client_auth()
        }
        TlsOptions::CaBundle { pem } => {
            let mut roots = rustls::RootCertStore::empty();
            let mut count = 0usize;
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| Error::Tls(format!("invalid CA bundle PEM: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| Error::Tls(format!("unusable CA certificate: {e}")))?;
                count += 1;
            }
            if count == 0 {
                return Err(Error::Tls("CA bundle contains no CERTIFICATE".into()));
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        TlsOptions::Pinned { fingerprints } => {
            if fingerprints.is_empty() {
                return Err(Error::Tls("no pinned fingerprint given".into()));
            }
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(LeafVerifier {
                    accepted: AcceptedLeaf::Pinned(fingerprints.clone()),
                    provider: provider.clone(),
                }))
                .with_no_client_auth()
        }
        TlsOptions::Insecure => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(LeafVerifier {
                accepted: AcceptedLeaf::Any,
                provider: provider.clone(),
            }))
            .with_no_client_auth(),
    };
    // XAPI speaks HTTP/1.1 only.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Which server leaf certificates a [`LeafVerifier`] accepts.
#[derive(Debug)]
enum AcceptedLeaf {
    /// Only a leaf certificate whose fingerprint is one of the pins.
    Pinned(Vec<Fingerprint>),
    /// Any certificate (explicit `insecure`).
    Any,
}

/// Checks the server's leaf certificate against an [`AcceptedLeaf`] policy (no chain or
/// host name check); handshake signatures are still verified with the certificate's key.
#[derive(Debug)]
struct LeafVerifier {
    accepted: AcceptedLeaf,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for LeafVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let AcceptedLeaf::Pinned(pins) = &self.accepted else {
            return Ok(ServerCertVerified::assertion());
        };
        let actual = Fingerprint::of_der(end_entity.as_ref());
        if pins.contains(&actual) {
            Ok(ServerCertVerified::assertion())
        } else {
            tracing::warn!(fingerprint = %actual, "server certificate does not match the pinned fingerprint");
            Err(rustls::Error::General(format!(
                "server certificate SHA-256 fingerprint {actual} does not match the pinned fingerprint"
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_parsing() {
        let hex64 = "ab".repeat(32);
        let f: Fingerprint = hex64.parse().unwrap();
        assert_eq!(f.0, [0xab; 32]);
        let colons = vec!["AB"; 32].join(":");
        assert_eq!(colons.parse::<Fingerprint>().unwrap(), f);
        assert_eq!(
            format!("sha256 Fingerprint={colons}")
                .parse::<Fingerprint>()
                .unwrap(),
            f
        );
        assert_eq!(format!("sha256:{hex64}").parse::<Fingerprint>().unwrap(), f);
        assert_eq!(f.to_string(), colons);
        assert!("abcd".parse::<Fingerprint>().is_err());
        assert!("zz".repeat(32).parse::<Fingerprint>().is_err());
    }

    #[test]
    fn configs_build() {
        for opts in [
            TlsOptions::SystemRoots,
            TlsOptions::Insecure,
            TlsOptions::Pinned {
                fingerprints: vec![Fingerprint([1; 32])],
            },
        ] {
            let c = client_config(&opts).unwrap();
            assert_eq!(c.alpn_protocols, vec![b"http/1.1".to_vec()]);
        }
        assert!(
            client_config(&TlsOptions::Pinned {
                fingerprints: vec![]
            })
            .is_err()
        );
        assert!(
            client_config(&TlsOptions::CaBundle {
                pem: b"nope".to_vec()
            })
            .is_err()
        );
    }

    #[test]
    fn ca_bundle_and_fingerprint_from_pem() {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let pem = cert.cert.pem();
        let c = client_config(&TlsOptions::CaBundle {
            pem: pem.clone().into_bytes(),
        });
        assert!(c.is_ok());
        let f = Fingerprint::of_pem(pem.as_bytes()).unwrap();
        assert_eq!(f, Fingerprint::of_der(cert.cert.der()));
        assert!(Fingerprint::of_pem(b"").is_err());
    }
}
