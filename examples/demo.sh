#!/usr/bin/env bash
# The main job, end to end, on the shipped example data:
#   commit examples/suppliers.csv and examples/ubos.csv (cap prepare), print the roots,
#   prove one supplier row and verify that proof against the committed root, then check the audit trail.
# Usage: bash examples/demo.sh [VENV]   (default .venv; `make demo` passes it). Output goes to build/demo/.
set -euo pipefail

venv="${1:-.venv}"
if [ ! -x "$venv/bin/cap" ]; then
    echo "demo: $venv/bin/cap not found; run 'make develop' first (or pass the venv path)" >&2
    exit 2
fi
venv="$(cd "$venv" && pwd)"
cap="$venv/bin/cap"
cd "$(dirname "$0")/.."

out=build/demo
rm -rf "$out"
mkdir -p "$out"

echo "== cap prepare: commit the supplier and UBO lists"
"$cap" prepare --suppliers examples/suppliers.csv --ubos examples/ubos.csv --output "$out"

echo
echo "== cap prove: the inclusion proof of supplier row 1 (0-based: the second data row)"
"$cap" prove examples/suppliers.csv --row 1 --output "$out/proof-supplier-1.json"

echo
echo "== cap verify-inclusion: check it against supplier_root in commitments.json"
"$cap" verify-inclusion --proof "$out/proof-supplier-1.json" --commitments "$out/commitments.json" --which supplier

echo
echo "== cap audit verify: the hash-chained audit log"
"$cap" audit verify --file "$out/agent.audit.jsonl"

# ---------------------------------------------------------------------------------------------------------------
# The LkSG pipeline, end to end: policy → manifest → proof → sign → export → offline verification.
echo
echo "== cap policy validate: the example policy (lksg.v1)"
"$cap" policy validate --policy examples/policy.lksg.v1.yml

echo
echo "== cap manifest build: anchor roots, policy hash, audit tip and the sorted sanctions list root"
"$cap" manifest build --commitments "$out/commitments.json" --policy examples/policy.lksg.v1.yml \
    --sanctions examples/sanctions.csv --time-anchor "demo-ticket-001" --output "$out/manifest.json"

echo
echo "== cap proof build: evaluate the policy over the committed data (backend merkle-disclosure-v1)"
"$cap" proof build --manifest "$out/manifest.json" --policy examples/policy.lksg.v1.yml \
    --sanctions examples/sanctions.csv --output "$out/proof.dat"
"$cap" proof verify --manifest "$out/manifest.json" --proof "$out/proof.dat" --sanctions examples/sanctions.csv

echo
echo "== cap keys generate + cap sign manifest"
"$cap" keys generate --owner "Demo Company" -o "$out/keys/company" >/dev/null
"$cap" sign manifest --manifest "$out/manifest.json" --key "$out/keys/company.ed25519" --signer "Demo Company" \
    --output "$out/signature.json"

echo
echo "== cap export: the cap-bundle.v1 directory"
"$cap" export --manifest "$out/manifest.json" --proof "$out/proof.dat" --signature "$out/signature.json" \
    --output "$out/cap-proof"

echo
echo "== cap verifier run: offline verification with the pinned signer key and the public sanctions list"
"$cap" verifier run --package "$out/cap-proof" --pubkey "$out/keys/company.pub" \
    --sanctions examples/sanctions.csv -o "$out/verification.report.json"

echo
echo "== tampering: change one supplier's name inside the proof of a copy of the bundle"
cp -r "$out/cap-proof" "$out/cap-proof-tampered"
python3 - "$out/cap-proof-tampered/proof.dat" <<'PY'
import sys
p = sys.argv[1]
data = open(p, encoding="utf-8").read()
open(p, "w", encoding="utf-8").write(data.replace("ACME GmbH", "ACME GmbX", 1))
PY
if "$cap" verifier run --package "$out/cap-proof-tampered" --pubkey "$out/keys/company.pub" \
    --sanctions examples/sanctions.csv -o "$out/verification.tampered.json"; then
    echo "demo: the tampered bundle was NOT caught" >&2
    exit 1
fi
echo "(the tampered copy was rejected as expected: exit status non-zero)"
echo
echo "demo: OK: the pipeline verified and the tampered bundle was caught"
