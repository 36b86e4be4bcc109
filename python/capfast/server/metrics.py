"""Prometheus metrics (one registry per app instance, so several apps in one process do not collide).

Names from the seed's API reference, plus the rate limiter's:

* ``cap_verifier_requests_total{result="ok|fail|warn"}`` -- outcomes of ``POST /verify``;
* ``cap_auth_token_validation_failures_total`` -- rejected bearer tokens (401 and 403);
* ``cap_cache_hit_ratio`` -- hit ratio of the verification result cache;
* ``cap_verifier_request_duration_seconds`` -- latency of every request (histogram);
* ``rate_limit_exceeded_total{route}`` -- 429 answers;
* ``cap_http_requests_total{method,route,status}`` and ``cap_rate_limit_backend_errors_total`` (extras).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest

__all__ = ["Metrics", "CONTENT_TYPE"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
disable_created_metrics()


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.verify_results = Counter("cap_verifier_requests", "Total verification requests", ["result"], registry=r)
        for result in ("ok", "fail", "warn"):
            self.verify_results.labels(result)
        self.auth_failures = Counter("cap_auth_token_validation_failures", "Authentication failures", registry=r)
        self.cache_ratio = Gauge("cap_cache_hit_ratio", "Cache effectiveness ratio", registry=r)
        self.duration = Histogram("cap_verifier_request_duration_seconds", "Request latency", registry=r,
                                  buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0))
        self.rate_limited = Counter("rate_limit_exceeded", "Requests refused by the rate limiter", ["route"],
                                    registry=r)
        self.requests = Counter("cap_http_requests", "HTTP requests", ["method", "route", "status"], registry=r)
        self.limiter_errors = Counter("cap_rate_limit_backend_errors", "Rate limiter backend failures", registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
