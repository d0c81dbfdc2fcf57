//! RFC vectors through the proof checks and into the store: the malleated
//! twin of the Fig. 14 proof (same claims, `s` → `n − s`, different bytes,
//! valid signature) must be a replay of the original.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use crate::dpop::{precheck, Htu, ProofPolicy, ProofRequest};
use crate::jose::test_vectors::compact;
use crate::replay::{MemoryReplayStore, Recorded, ReplayKey};

#[test]
fn malleated_twin_is_a_replay_of_fig14() {
    let token = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";
    let digest = crate::digest::sha256(token);
    let htu = Htu::parse("https://resource.example.org/protectedresource").unwrap();
    let req = ProofRequest {
        method: "GET",
        htu: &htu,
        token_sha256: Some(&digest),
    };
    let now = 1_562_262_620;
    let store = MemoryReplayStore::new(100);
    let mut outcomes = Vec::new();
    let mut bytes = Vec::new();
    for name in [
        "rfc9449_fig14_resource_proof",
        "derived_fig14_malleated_twin",
    ] {
        let proof = compact(name);
        let verified = precheck(&proof, &req, &ProofPolicy::default(), now)
            .unwrap()
            .verify_signature()
            .unwrap();
        assert_eq!(
            verified.jkt().as_str(),
            "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
        );
        let key = ReplayKey::new(verified.jkt(), verified.jti());
        outcomes.push(store.record(key, now + 70, now).unwrap());
        bytes.push(proof);
    }
    assert_ne!(bytes[0], bytes[1], "the twin differs byte for byte");
    assert_eq!(outcomes, vec![Recorded::Fresh, Recorded::Replayed]);
}
