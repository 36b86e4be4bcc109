//! Batch verification of JSON CapTokens: parse every token in parallel, look its issuer up among the pinned
//! issuers, check all Ed25519 signatures with one call to [`crate::ed25519::verify_batch`] and recover all EIP-191
//! signers in parallel. Each verdict is exactly what verifying that token alone gives.

use std::collections::{HashMap, HashSet};

use rayon::prelude::*;

use super::{parse, Claims, Issuer, Parsed};
use crate::ed25519;
use crate::error::{Error, Result, TokenErrorKind};
use crate::wallet;

/// Most tokens in one call (hostile-input bound; callers split larger work).
pub const MAX_BATCH: usize = 1 << 22;

/// The issuers a verifier trusts: Ed25519 keys by KID, and wallet addresses.
#[derive(Debug, Default, Clone)]
pub struct Pinned {
    pub keys: HashMap<[u8; 16], ed25519::PublicKey>,
    pub wallets: HashSet<wallet::Address>,
}

fn untrusted(parsed: &Parsed) -> Error {
    Error::token(
        TokenErrorKind::UntrustedIssuer,
        format!("issuer {} is not a pinned token issuer", parsed.claims.issuer),
    )
}

fn bad_signature(parsed: &Parsed) -> Error {
    Error::token(
        TokenErrorKind::Signature,
        format!("signature does not verify for issuer {}", parsed.claims.issuer),
    )
}

/// Verifies one token's signature against the pinned issuers.
pub fn verify_one(raw: &[u8], pinned: &Pinned) -> Result<Claims> {
    let parsed = parse(raw)?;
    let ok = match parsed.issuer {
        Issuer::Kid(kid) => {
            let pk = pinned.keys.get(&kid).ok_or_else(|| untrusted(&parsed))?;
            let sig = ed25519::signature_arg(&parsed.signature, "signature")?;
            ed25519::verify(pk, &parsed.signed, &sig)
        }
        Issuer::Wallet(addr) => {
            if !pinned.wallets.contains(&addr) {
                return Err(untrusted(&parsed));
            }
            wallet::recover_message(&parsed.signed, &parsed.signature) == Some(addr)
        }
    };
    if ok {
        Ok(parsed.claims)
    } else {
        Err(bad_signature(&parsed))
    }
}

/// Per-token verdicts, each equal to [`verify_one`]'s.
pub fn verify_batch(tokens: &[&[u8]], pinned: &Pinned) -> Result<Vec<Result<Claims>>> {
    if tokens.len() > MAX_BATCH {
        return Err(Error::invalid(format!(
            "batch of {} tokens exceeds {MAX_BATCH}",
            tokens.len()
        )));
    }
    let parsed: Vec<Result<Parsed>> = tokens.par_iter().with_min_len(64).map(|t| parse(t)).collect();

    // Ed25519 tokens with a pinned key go to one batch call; the rest are settled here.
    let mut ed_idx = Vec::new();
    let mut ed_pks: Vec<&ed25519::PublicKey> = Vec::new();
    let mut ed_msgs: Vec<&[u8]> = Vec::new();
    let mut ed_sigs: Vec<&ed25519::Signature> = Vec::new();
    let mut wallet_idx = Vec::new();
    let mut verdict: Vec<Option<Result<()>>> = Vec::with_capacity(tokens.len());
    for (i, p) in parsed.iter().enumerate() {
        let Ok(p) = p else {
            verdict.push(None);
            continue;
        };
        match p.issuer {
            Issuer::Kid(kid) => match pinned.keys.get(&kid) {
                Some(pk) => {
                    let sig: &ed25519::Signature =
                        p.signature.as_slice().try_into().map_err(|_| {
                            Error::invalid("internal: Ed25519 signature length was checked by the parser")
                        })?;
                    ed_idx.push(i);
                    ed_pks.push(pk);
                    ed_msgs.push(&p.signed);
                    ed_sigs.push(sig);
                    verdict.push(None);
                }
                None => verdict.push(Some(Err(untrusted(p)))),
            },
            Issuer::Wallet(addr) => {
                if pinned.wallets.contains(&addr) {
                    wallet_idx.push(i);
                    verdict.push(None);
                } else {
                    verdict.push(Some(Err(untrusted(p))));
                }
            }
        }
    }
    let ed_ok = ed25519::verify_batch(&ed_pks, &ed_msgs, &ed_sigs)?;
    for (&i, ok) in ed_idx.iter().zip(ed_ok) {
        verdict[i] = Some(if ok { Ok(()) } else { Err(Error::invalid("")) });
    }
    let wallet_ok: Vec<bool> = wallet_idx
        .par_iter()
        .with_min_len(8)
        .map(|&i| match &parsed[i] {
            Ok(p) => match p.issuer {
                Issuer::Wallet(addr) => wallet::recover_message(&p.signed, &p.signature) == Some(addr),
                Issuer::Kid(_) => false,
            },
            Err(_) => false,
        })
        .collect();
    for (&i, ok) in wallet_idx.iter().zip(wallet_ok) {
        verdict[i] = Some(if ok { Ok(()) } else { Err(Error::invalid("")) });
    }

    Ok(parsed
        .into_iter()
        .zip(verdict)
        .map(|(p, v)| {
            let p = p?;
            match v {
                Some(Ok(())) => Ok(p.claims),
                Some(Err(Error::Token { kind, message })) => Err(Error::Token { kind, message }),
                _ => Err(bad_signature(&p)),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(issuer: &str, extra: &str, sig_hex: &str) -> String {
        format!(
            "{{\"wallet\":\"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed\",\"role\":\"infra.user\",\
             \"scope\":[\"app:/vpn\",\"app:/audit\"],\"cap_level\":71,\"valid_until\":1715000000,\
             \"issuer\":\"{issuer}\",\"issued_at\":1714990000,\"not_before\":1714990000,\
             \"token_id\":\"000102030405060708090a0b0c0d0e0f\",\"audience\":\"example.org\",\
             \"revocation_id\":\"0f0e0d0c0b0a09080706050403020100\"{extra},\"signature\":\"0x{sig_hex}\"}}"
        )
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    fn signed_ed25519(seed: &[u8; 32], kid: &str) -> String {
        let unsigned = token(kid, "", &"00".repeat(64));
        let p = parse(unsigned.as_bytes()).unwrap();
        let sig = ed25519::sign(seed, &p.signed);
        token(kid, "", &hex(&sig))
    }

    #[test]
    fn ed25519_and_wallet_tokens_verify_in_batch_as_alone() {
        let seed = [3u8; 32];
        let kid = "00112233445566778899aabbccddeeff";
        let mut pinned = Pinned::default();
        let mut k = [0u8; 16];
        k.copy_from_slice(
            &(0..16)
                .map(|i| u8::from_str_radix(&kid[2 * i..2 * i + 2], 16).unwrap())
                .collect::<Vec<_>>(),
        );
        pinned.keys.insert(k, ed25519::public_key(&seed));

        let wsk = [5u8; 32];
        let waddr = wallet::address_of(&wsk).unwrap();
        let wtext = wallet::checksum_address(&waddr);
        pinned.wallets.insert(waddr);
        let unsigned = token(&wtext, "", &"00".repeat(65));
        let p = parse(unsigned.as_bytes()).unwrap();
        let wsig = wallet::sign_message(&wsk, &p.signed).unwrap();
        let wallet_token = token(&wtext, "", &hex(&wsig));

        let good = signed_ed25519(&seed, kid);
        let tampered = good.replace("\"cap_level\":71", "\"cap_level\":72");
        let foreign = signed_ed25519(&seed, "ffeeddccbbaa99887766554433221100");
        let toks = [
            good.as_str(),
            tampered.as_str(),
            wallet_token.as_str(),
            foreign.as_str(),
            "{",
        ];
        let raw: Vec<&[u8]> = toks.iter().map(|t| t.as_bytes()).collect();
        let batch = verify_batch(&raw, &pinned).unwrap();
        let kinds: Vec<Option<TokenErrorKind>> = batch
            .iter()
            .map(|r| match r {
                Ok(_) => None,
                Err(Error::Token { kind, .. }) => Some(*kind),
                Err(e) => panic!("{e}"),
            })
            .collect();
        assert_eq!(
            kinds,
            vec![
                None,
                Some(TokenErrorKind::Signature),
                None,
                Some(TokenErrorKind::UntrustedIssuer),
                Some(TokenErrorKind::Format)
            ]
        );
        for (t, b) in raw.iter().zip(&batch) {
            assert_eq!(verify_one(t, &pinned).is_ok(), b.is_ok());
        }
        // Pretty-printed text of the same token signs the same bytes.
        let pretty = good.replace(",\"", ",\n  \"").replace('{', "{\n  ");
        assert!(verify_one(pretty.as_bytes(), &pinned).is_ok());
    }
}
