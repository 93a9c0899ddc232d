#!/usr/bin/env bash
# Deletes the three clusters up.sh created.
set -euo pipefail
for c in lb shop bank; do kind delete cluster --name "$c"; done
