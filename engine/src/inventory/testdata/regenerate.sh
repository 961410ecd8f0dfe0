#!/bin/sh
# Regenerate the golden files in this folder with real Ansible.
# They are what engine/src/inventory/tests.rs compares our output with.
#
#   python3 -m venv /opt/ansible && /opt/ansible/bin/pip install ansible-core
#   sh engine/src/inventory/testdata/regenerate.sh   (from the repository root)
set -eu
AI="${ANSIBLE_INVENTORY:-/opt/ansible/bin/ansible-inventory}"
OUT=engine/src/inventory/testdata
# An empty config, so no ansible.cfg of the user's changes the results.
ANSIBLE_CONFIG=$(mktemp --suffix=.cfg)
trap 'rm -f "$ANSIBLE_CONFIG"' EXIT
export LC_ALL=C.UTF-8 ANSIBLE_CONFIG
# Each case: name, then the ansible-inventory arguments (run from the repository root).
run() {
    name=$1; shift
    "$AI" "$@" --list > "$OUT/$name.list.json"
    "$AI" "$@" --graph > "$OUT/$name.graph.txt"
}
run example -i inventories/example
run prod -i inventories/prod
run precedence -i $OUT/precedence/inv1 -i $OUT/precedence/inv2 --playbook-dir $OUT/precedence/playbook
for h in web01.example.org db-a.example.org db-b.example.org old01.example.org bastion.example.org cweb-a.example.org; do
    "$AI" -i inventories/example --host "$h" > "$OUT/example.host.$h.json"
done
"$AI" --version | head -1 > "$OUT/ansible-version.txt"
