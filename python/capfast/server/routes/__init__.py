"""Route groups of the REST API: verifier (health, metrics, verify, upload), policy, CAP store."""
