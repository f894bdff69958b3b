//! The TLS crypto provider gomon's servers use: rustls' ring provider, with ECDSA
//! P-521/SHA-512 signature verification added (ring has none). go-plugin's AutoMTLS
//! client certificate is a P-521 key, and operators' client certificates may be too.

use std::sync::{Arc, OnceLock};

use rustls::SignatureScheme;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{AlgorithmIdentifier, InvalidSignature, SignatureVerificationAlgorithm, alg_id};

/// ECDSA over P-521 with SHA-512, verified by the `p521` crate.
#[derive(Debug)]
struct EcdsaP521Sha512;

impl SignatureVerificationAlgorithm for EcdsaP521Sha512 {
    fn verify_signature(&self, public_key: &[u8], message: &[u8], signature: &[u8]) -> Result<(), InvalidSignature> {
        use p521::ecdsa::signature::Verifier;
        // `public_key` is the subjectPublicKey bit string: a SEC1 point.
        let key = p521::ecdsa::VerifyingKey::from_sec1_bytes(public_key).map_err(|_| InvalidSignature)?;
        // TLS and X.509 carry ECDSA signatures DER-encoded.
        let signature = p521::ecdsa::Signature::from_der(signature).map_err(|_| InvalidSignature)?;
        key.verify(message, &signature).map_err(|_| InvalidSignature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::ECDSA_P521
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::ECDSA_SHA512
    }
}

static P521: EcdsaP521Sha512 = EcdsaP521Sha512;
static P521_ONLY: [&dyn SignatureVerificationAlgorithm; 1] = [&P521];

/// ring's signature algorithms plus ECDSA P-521/SHA-512.
pub fn signature_algorithms() -> WebPkiSupportedAlgorithms {
    static ALGORITHMS: OnceLock<WebPkiSupportedAlgorithms> = OnceLock::new();
    *ALGORITHMS.get_or_init(|| {
        let ring = rustls::crypto::ring::default_provider().signature_verification_algorithms;
        let mut all: Vec<&'static dyn SignatureVerificationAlgorithm> = ring.all.to_vec();
        all.push(&P521);
        let mut mapping = ring.mapping.to_vec();
        // Preferred after the curves ring verifies natively.
        mapping.push((SignatureScheme::ECDSA_NISTP521_SHA512, &P521_ONLY));
        // Built once per process: leaking the two small tables gives them the 'static
        // lifetime rustls asks for.
        WebPkiSupportedAlgorithms { all: Vec::leak(all), mapping: Vec::leak(mapping) }
    })
}

/// The provider every gomon TLS server is built with.
pub fn provider() -> Arc<CryptoProvider> {
    let mut provider = rustls::crypto::ring::default_provider();
    provider.signature_verification_algorithms = signature_algorithms();
    Arc::new(provider)
}

/// `n` random bytes from the provider's secure random source.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], rustls::Error> {
    let mut bytes = [0u8; N];
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut bytes)
        .map_err(|_| rustls::Error::General("no secure random source".into()))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p521_signatures_verify_and_forgeries_do_not() {
        use p521::ecdsa::signature::hazmat::RandomizedPrehashSigner;
        use p521::elliptic_curve::rand_core::{CryptoRng, Error, RngCore};
        use sha2::Digest;
        /// A fixed nonce source: enough to make a signature to check.
        struct Counter(u8);
        impl RngCore for Counter {
            fn next_u32(&mut self) -> u32 {
                self.0 = self.0.wrapping_add(1);
                u32::from(self.0)
            }
            fn next_u64(&mut self) -> u64 {
                u64::from(self.next_u32())
            }
            fn fill_bytes(&mut self, dest: &mut [u8]) {
                for b in dest {
                    self.0 = self.0.wrapping_add(1);
                    *b = self.0;
                }
            }
            fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), Error> {
                self.fill_bytes(dest);
                Ok(())
            }
        }
        impl CryptoRng for Counter {}
        let mut secret = [7u8; 66];
        secret[0] = 0; // below the group order
        let key = p521::ecdsa::SigningKey::from_bytes(&p521::FieldBytes::clone_from_slice(&secret)).unwrap();
        let public = p521::ecdsa::VerifyingKey::from(&key).to_encoded_point(false);
        let signature: p521::ecdsa::Signature =
            key.sign_prehash_with_rng(&mut Counter(0), &sha2::Sha512::digest(b"hello")).unwrap();
        let der = signature.to_der();
        assert!(P521.verify_signature(public.as_bytes(), b"hello", der.as_bytes()).is_ok());
        assert!(P521.verify_signature(public.as_bytes(), b"hellO", der.as_bytes()).is_err());
        assert!(P521.verify_signature(b"\x04garbage", b"hello", der.as_bytes()).is_err());
        assert!(P521.verify_signature(public.as_bytes(), b"hello", b"\x30\x00").is_err());
        let schemes = signature_algorithms().supported_schemes();
        assert!(schemes.contains(&SignatureScheme::ECDSA_NISTP521_SHA512), "{schemes:?}");
        assert!(schemes.contains(&SignatureScheme::ECDSA_NISTP256_SHA256), "{schemes:?}");
    }
}
