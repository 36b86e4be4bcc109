"""The REST verifier API and CAP store behind ``cap serve`` (see :func:`capfast.server.app.create_app`)."""
