"""Constants and process workers shared by the CapToken tests (a module of its own: several test folders have a
``conftest``, and worker processes must import the worker by module name)."""

NOW = 1_800_000_000  # a fixed "now" for deterministic time checks
AUD = "example.org"


def race_worker(spec, token, trusted_path, audit_path, verifier_secret, barrier, results):
    from capfast.access import TrustedIssuers, Verifier
    from capfast.access.onboarding import redeem_token
    from capfast.access.replay import open_store
    from capfast.errors import TokenError
    from capfast.lksg.audit import AuditLog

    store = open_store(spec)
    v = Verifier(TrustedIssuers.load(trusted_path), audience=AUD)
    barrier.wait(30)
    try:
        redeem_token(token, verifier=v, store=store, audit=AuditLog(audit_path), device="board-7",
                     verifier_secret=verifier_secret, now=NOW + 1)
        results.put("ok")
    except TokenError as exc:
        results.put(type(exc).__name__)
    finally:
        store.close()
