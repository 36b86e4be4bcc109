"""A textbook pure-Python Ed25519 (RFC 8032 §5.1 formulas, big integers), used only as a test oracle.

It is deliberately independent of both backends under test (no dalek, no libsodium): it decodes points leniently
and reports each property the validity rule (docs/ed25519-validity.md) talks about, so the expected verdict of a
published vector is *derived* from the vector's properties, never taken from capfast's own output. Slow (pure
Python), fine for a few hundred cases.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = (-121665 * pow(121666, P - 2, P)) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)

Point = tuple[int, int, int, int]  # extended coordinates (X, Y, Z, T), x = X/Z, y = Y/Z, xy = T/Z
IDENTITY: Point = (0, 1, 1, 0)


def add(p: Point, q: Point) -> Point:
    """RFC 8032 §5.1.4 addition (complete for a = −1)."""
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = t1 * 2 * D * t2 % P
    d = z1 * 2 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def mul(k: int, p: Point) -> Point:
    q = IDENTITY
    while k > 0:
        if k & 1:
            q = add(q, p)
        p = add(p, p)
        k >>= 1
    return q


def equal(p: Point, q: Point) -> bool:
    return (p[0] * q[2] - q[0] * p[2]) % P == 0 and (p[1] * q[2] - q[1] * p[2]) % P == 0


def is_identity(p: Point) -> bool:
    return equal(p, IDENTITY)


def neg(p: Point) -> Point:
    return ((-p[0]) % P, p[1], p[2], (-p[3]) % P)


def recover_x(y: int, sign: int) -> int | None:
    """RFC 8032 §5.1.3 steps 2–4, with y taken mod p (lenient)."""
    y %= P
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    if x2 == 0:
        return 0 if sign == 0 else 0  # "negative zero": lenient decoders accept it as x = 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P != 0:
        return None
    if (x & 1) != sign:
        x = P - x
    return x


@dataclass(frozen=True)
class PointInfo:
    on_curve: bool
    canonical: bool  # y < p and not (x = 0 with the sign bit set)
    small_order: bool
    torsion_free: bool
    point: Point | None


def decode(enc: bytes) -> PointInfo:
    n = int.from_bytes(enc, "little")
    sign = n >> 255
    y = n & ((1 << 255) - 1)
    x = recover_x(y, sign)
    if x is None:
        return PointInfo(False, False, False, False, None)
    canonical = y < P and not (x == 0 and sign == 1)
    y %= P
    pt: Point = (x, y, 1, x * y % P)
    return PointInfo(True, canonical, is_identity(mul(8, pt)), is_identity(mul(L, pt)), pt)


B: Point = (lambda y: (recover_x(y, 0) or 0, y, 1, (recover_x(y, 0) or 0) * y % P))(4 * pow(5, P - 2, P) % P)


@dataclass(frozen=True)
class Properties:
    """Everything the validity rule looks at, for one (pk, msg, sig)."""

    s_canonical: bool
    a: PointInfo
    r: PointInfo
    cofactorless: bool  # [S]B = R + [k]A
    cofactored: bool  # [8][S]B = [8]R + [8][k]A

    @property
    def rule_verdict(self) -> bool:
        """capfast's rule: S < L; A, R canonical, not small order, torsion-free; cofactorless equation."""
        pts_ok = all(i.on_curve and i.canonical and not i.small_order and i.torsion_free for i in (self.a, self.r))
        return self.s_canonical and pts_ok and self.cofactorless


def properties(pk: bytes, msg: bytes, sig: bytes) -> Properties:
    assert len(pk) == 32 and len(sig) == 64
    s = int.from_bytes(sig[32:], "little")
    a, r = decode(pk), decode(sig[:32])
    cofactorless = cofactored = False
    if a.point is not None and r.point is not None:
        k = int.from_bytes(hashlib.sha512(sig[:32] + pk + msg).digest(), "little") % L
        lhs = mul(s, B)
        rhs = add(r.point, mul(k, a.point))
        cofactorless = equal(lhs, rhs)
        cofactored = equal(mul(8, lhs), mul(8, rhs))
    return Properties(s < L, a, r, cofactorless, cofactored)
