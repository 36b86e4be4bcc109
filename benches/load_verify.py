"""Load test of `cap serve` on loopback: /healthz, POST /verify (a real manifest + mock proof) and blob downloads.

Bounded in time and count: each phase runs for --seconds (default 5) or --max-requests, with --concurrency
asyncio workers over one httpx.AsyncClient. Starts its own server process (rate limits off, a throwaway RSA key,
a temp state dir) unless --url is given. Reports throughput, p50/p99 latency and errors per phase, and checks the
target: /verify throughput >= 50% of /healthz throughput in the same run, zero errors.

    .venv/bin/python benches/load_verify.py [--seconds 5] [--concurrency 16] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "server"))


async def _phase(client: httpx.AsyncClient, make: Any, seconds: float, max_requests: int,
                 concurrency: int) -> dict[str, Any]:
    lat: list[float] = []
    errors = 0
    count = 0
    end = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal errors, count
        while time.perf_counter() < end and count < max_requests:
            count += 1
            t0 = time.perf_counter()
            try:
                r = await make(client)
                ok = r.status_code in (200, 206)
            except httpx.HTTPError:
                ok = False
            lat.append(time.perf_counter() - t0)
            errors += not ok

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    lat.sort()
    return {"requests": len(lat), "errors": errors, "seconds": round(elapsed, 3),
            "rps": round(len(lat) / elapsed, 1),
            "p50_ms": round(statistics.median(lat) * 1000, 2) if lat else None,
            "p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000, 2) if lat else None}


def _case(tmp: Path) -> dict[str, Any]:
    from capfast.cli import main
    from capfast.lksg.proof import decode_proof

    ex = ROOT / "examples"
    for argv in (["prepare", "--suppliers", str(ex / "suppliers.csv"), "--ubos", str(ex / "ubos.csv"), "--output",
                  str(tmp)],
                 ["manifest", "build", "--commitments", str(tmp / "commitments.json"), "--policy",
                  str(ex / "policy.lksg.v1.yml"), "--sanctions", str(ex / "sanctions.csv"), "--output",
                  str(tmp / "manifest.json")],
                 ["proof", "build", "--manifest", str(tmp / "manifest.json"), "--policy",
                  str(ex / "policy.lksg.v1.yml"), "--sanctions", str(ex / "sanctions.csv"), "--backend", "mock",
                  "--output", str(tmp / "proof.dat")]):
        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()):
            if main(argv) != 0:
                raise SystemExit(f"cap {' '.join(argv[:2])} failed")
    manifest = json.loads((tmp / "manifest.json").read_bytes())
    return {"manifest": manifest, "proof": decode_proof((tmp / "proof.dat").read_bytes())}


async def run(url: str, token: str, blob: str | None, case: dict[str, Any], args: argparse.Namespace) -> dict:
    m = case["manifest"]
    body = {"policy_id": m["policy"]["hash"], "context": {"manifest": m, "proof": case["proof"]}, "backend": "mock"}
    h = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    out: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        phases: list[tuple[str, Any]] = [
            ("healthz", lambda c: c.get("/healthz")),
            ("verify", lambda c: c.post("/verify", json=body, headers=h)),
        ]
        if blob:
            phases.append(("blob", lambda c: c.get(f"/store/releases/{blob}")))
        for name, make in phases:
            await _phase(client, make, 0.5, 200, args.concurrency)  # warm-up
            out[name] = await _phase(client, make, args.seconds, args.max_requests, args.concurrency)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--max-requests", type=int, default=50_000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    from servhelpers import Keys, cap_serve
    from storehelpers import APP, PUB_PK, build_version, publish

    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        keys = Keys(tmp)
        case = _case(tmp / "case")
        env = {"CAP_AUTH_PUBLIC_KEY_PEM": str(keys.pem_path), "CAP_RATE_LIMIT_ENABLED": "0",
               "CAP_STORE_PUBLISHERS": f"{APP}={PUB_PK.hex()}"}
        with cap_serve(tmp / "state", env) as url:
            pkg = build_version(tmp, "2.0.0")
            r = publish(url, keys.token(), pkg, 1)
            r.raise_for_status()
            from capfast.cap.package import Package

            p = Package.open(pkg)
            blob = f"{p.root.hex()}/blobs/" + max(p._unique, key=lambda h: p._unique[h].compressed_size)
            res = asyncio.run(run(url, keys.token(lifetime=3600), blob, case, args))
    ratio = res["verify"]["rps"] / res["healthz"]["rps"]
    errors = sum(v["errors"] for v in res.values())
    report = {"phases": res, "verify_vs_healthz": round(ratio, 3), "target": ">= 0.5, zero errors",
              "passed": ratio >= 0.5 and errors == 0, "concurrency": args.concurrency}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for name, v in res.items():
            print(f"{name:8} {v['rps']:9.1f} req/s  p50 {v['p50_ms']:7.2f} ms  p99 {v['p99_ms']:7.2f} ms  "
                  f"{v['requests']} requests, {v['errors']} errors")
        print(f"/verify throughput = {ratio:.0%} of /healthz (target >= 50%, zero errors): "
              f"{'PASS' if report['passed'] else 'FAIL'}")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
