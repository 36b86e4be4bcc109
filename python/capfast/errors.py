"""capfast's exception tree. Every error capfast raises on purpose derives from :class:`CapfastError`.

Both backends raise the same classes: the native core maps its single Rust error enum onto these.
"""

from __future__ import annotations

__all__ = [
    "CapfastError",
    "InvalidArgumentError",
    "CsvFormatError",
    "ProofError",
    "AuditLogError",
    "PackageError",
    "ZipFormatError",
    "UnsafePathError",
    "DuplicateEntryError",
    "InvalidHashError",
    "MissingEntryError",
    "UnexpectedEntryError",
    "BlobMismatchError",
    "DecompressionBombError",
    "CborError",
    "ManifestError",
    "CapabilityError",
    "SignatureError",
    "TrustError",
    "KeyFileError",
    "KeyStatusError",
    "ComplianceError",
    "PolicyError",
    "ComplianceManifestError",
    "ComplianceProofError",
    "BundleError",
    "RegistryError",
    "WalletError",
    "TokenError",
    "TokenFormatError",
    "TokenTooLargeError",
    "UntrustedIssuerError",
    "KeyPurposeError",
    "TokenSignatureError",
    "TokenExpiredError",
    "TokenNotYetValidError",
    "TokenRevokedError",
    "TokenDeniedError",
    "ScopeNotGrantedError",
    "CapLevelTooLowError",
    "AudienceMismatchError",
    "RoleNotGrantedError",
    "DeviceMismatchError",
    "DatalogLimitError",
    "TokenReplayError",
    "HolderProofError",
    "RevocationListError",
    "OnboardingError",
    "QrPayloadError",
]


class CapfastError(Exception):
    """Root of every capfast error."""


class InvalidArgumentError(CapfastError, ValueError):
    """A value outside a function's contract: wrong length, unknown hash name, index out of range."""


class CsvFormatError(CapfastError, ValueError):
    """A CSV source that violates capfast's dialect (RFC 4180, UTF-8, header row, rectangular rows).

    ``line`` is 1-based and counts physical lines (the header is line 1); ``kind`` is a short slug such as
    ``"ragged row"``; ``file`` is the path when the source was a file.
    """

    def __init__(self, message: str, line: int | None = None, kind: str | None = None, file: str | None = None):
        self.message = message
        self.line = line
        self.kind = kind
        self.file = file
        super().__init__(message, line, kind, file)

    def with_file(self, file: str | None) -> CsvFormatError:
        """A copy naming ``file`` (the native core does not know the path it was given bytes from)."""
        return CsvFormatError(self.message, self.line, self.kind, file)

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = f"{self.file}:"
        if self.line is not None:
            where += f"{self.line}:" if self.file is not None else f"line {self.line}:"
        kind = f" {self.kind}:" if self.kind else ""
        return f"{where}{kind} {self.message}".strip()


class ProofError(CapfastError, ValueError):
    """A malformed proof or compact range (wrong sizes, wrong hash lengths, non-adjacent ranges)."""


class AuditLogError(CapfastError, ValueError):
    """An audit log that cannot be extended (unreadable or inconsistent last entry) or an invalid event."""


class PackageError(CapfastError, ValueError):
    """A CAP package (``.cap``), its metadata or its build input is invalid. Subclasses name the exact problem."""


class ZipFormatError(PackageError):
    """The ZIP container is malformed: truncated, overlapping or gapped entries, a non-STORED or encrypted entry,
    local header vs central directory mismatch, CRC mismatch, trailing data, too many entries."""


class UnsafePathError(PackageError):
    """A path (ZIP entry name, index path, entry point, app-folder file) that could escape or confuse the target:
    ``..``, absolute, drive letter, backslash, NUL/control characters, reserved names, symlinks."""


class DuplicateEntryError(PackageError):
    """The same name twice: a duplicate ZIP entry, a duplicate CBOR map key, or index paths that collide."""


class InvalidHashError(PackageError):
    """A blob hash that is not 64 lowercase hexadecimal characters."""


class MissingEntryError(PackageError):
    """A required ``_cap/`` entry or a blob referenced by the index is missing."""


class UnexpectedEntryError(PackageError):
    """An entry that has no place in a CAP package: unknown name, misnamed or unreferenced blob."""


class BlobMismatchError(PackageError):
    """A blob whose decompressed size or SHA-256 differs from the index, or whose zstd payload is corrupt."""


class DecompressionBombError(PackageError):
    """A blob that would decompress past its declared size or a cap (per-blob size, ratio, total, window)."""


class CborError(PackageError):
    """CBOR that is malformed or not in the single accepted encoding (non-shortest, indefinite, tags, trailing)."""


class ManifestError(PackageError):
    """A manifest, ``Cap.toml`` or index that violates the CAP 1.0 schema or capfast's validation rules."""


class CapabilityError(ManifestError):
    """A capability declaration or policy overlay that violates the CAP 1.0 capability grammar (spec §8)."""


class SignatureError(PackageError):
    """A root or signature that does not verify: root mismatch, wrong key, malformed or small-order key,
    non-canonical signature."""


class TrustError(PackageError):
    """No trusted key to verify with (the embedded key alone is never enough), a key that differs from the pinned
    one, or a key rotation that the old key did not attest."""


class KeyFileError(CapfastError, ValueError):
    """A key, attestation or signed-manifest file (cap-key.v1, cap-attestation.v1, cap-agent formats) that is
    malformed or inconsistent: wrong schema or size, a KID that does not match the public key, a private key that
    does not match its metadata."""


class KeyStatusError(KeyFileError):
    """A well-formed key whose metadata forbids the use: retired or revoked (no new signatures, no longer trusted
    for verification), or outside its validity period."""


class ComplianceError(CapfastError, ValueError):
    """Root of the LkSG pipeline's errors (``capfast.lksg``): policies, manifests, proofs, bundles, registry."""


class PolicyError(ComplianceError):
    """A policy file (lksg.v1 or PolicyV2) that cannot be parsed or fails validation; the message lists why."""


class ComplianceManifestError(ComplianceError):
    """A manifest.v1.0 file that is malformed, or an input (commitments, audit log) it is built from."""


class ComplianceProofError(ComplianceError):
    """A compliance proof (proof.v0 or merkle-disclosure-v1) that is malformed or cannot be built."""


class BundleError(ComplianceError):
    """A cap-bundle.v1 bundle that cannot be read or written: unsafe name, over a size or count limit, bad
    ``_meta.json``, existing output."""


class RegistryError(ComplianceError):
    """A registry file or entry that is malformed, or a lookup that found nothing."""


class WalletError(CapfastError, ValueError):
    """A wallet address or key that is malformed: not ``0x`` + 40 hex digits, a mixed-case address whose EIP-55
    checksum is wrong, a secret key that is not a valid secp256k1 scalar."""


class TokenError(CapfastError, ValueError):
    """Root of the CapToken errors (``capfast.access``). ``code`` is a stable slug for APIs and logs."""

    code = "token_invalid"


class TokenFormatError(TokenError):
    """Not a CapToken: malformed or truncated JSON, non-canonical text (escapes, fractions, signs, leading zeros),
    a duplicate or unknown field, a field outside its grammar, or a Biscuit that cannot be decoded."""

    code = "token_malformed"


class TokenTooLargeError(TokenFormatError):
    """A token (or QR payload) over its size cap, refused before parsing."""

    code = "token_too_large"


class UntrustedIssuerError(TokenError):
    """The token's issuer is not pinned by the verifier (the key embedded in or named by a token is never trusted
    on its own)."""

    code = "issuer_untrusted"


class KeyPurposeError(UntrustedIssuerError):
    """A key whose cap-key.v1 ``usage`` does not include ``captoken`` (for example a package-signing key) offered
    as a token issuer key."""

    code = "key_purpose"


class TokenSignatureError(TokenError):
    """The token's signature does not verify under its issuer's pinned key."""

    code = "signature_invalid"


class TokenExpiredError(TokenError):
    """``valid_until`` (plus the leeway) is in the past."""

    code = "token_expired"


class TokenNotYetValidError(TokenError):
    """``not_before`` or ``issued_at`` lies further in the future than the leeway."""

    code = "token_not_yet_valid"


class TokenRevokedError(TokenError):
    """A revocation id of the token is on a signed revocation list of its issuer."""

    code = "token_revoked"


class TokenDeniedError(TokenError):
    """A valid token that does not grant what was asked for (scope, level, audience, role, device)."""

    code = "token_denied"


class ScopeNotGrantedError(TokenDeniedError):
    """No scope of the token covers the required scope (path-segment matching, explicit ``/*``)."""

    code = "scope_not_granted"


class CapLevelTooLowError(TokenDeniedError):
    """The token's capability level is below the required minimum."""

    code = "cap_level_too_low"


class AudienceMismatchError(TokenDeniedError):
    """The token is for another audience (domain)."""

    code = "audience_mismatch"


class RoleNotGrantedError(TokenDeniedError):
    """The token's role does not cover the required role."""

    code = "role_not_granted"


class DeviceMismatchError(TokenDeniedError):
    """The token is bound to another device (or request) than the one presenting it."""

    code = "device_mismatch"


class DatalogLimitError(TokenError):
    """A Biscuit's Datalog evaluation hit a fact or iteration limit (fails closed)."""

    code = "datalog_limit"


class TokenReplayError(TokenError):
    """A one-time token (or holder challenge) that was already redeemed."""

    code = "token_replayed"


class HolderProofError(TokenError):
    """Missing, stale or wrong proof of possession: the challenge was not signed by the token's wallet."""

    code = "holder_proof_invalid"


class RevocationListError(TokenError):
    """A revocation list that is malformed, not signed by the issuer it names, or older than one already seen."""

    code = "revocation_list_invalid"


class OnboardingError(CapfastError, ValueError):
    """Root of the CapQR device-onboarding errors (QR payloads, requests, delivery, redemption)."""

    code = "onboarding_error"


class QrPayloadError(OnboardingError):
    """A QR payload that is oversized, not canonical, of another version, expired, or carries a URL."""

    code = "qr_payload_invalid"
