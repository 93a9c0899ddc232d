#!/bin/sh
# Entrypoint of the kube-lb image. The first argument names the program: allocator, agent, speaker, or
# kube-lb (the CLI). Invoked through the `kube-lb` symlink it is the CLI directly, so
# `kubectl exec ds/kube-lb-speaker -- kube-lb doctor` works.
set -eu
app="${KUBE_LB_APP_DIR:-/app}"
if [ "$(basename "$0")" = "kube-lb" ]; then
  exec node "$app/dist/cli/main.js" "$@"
fi
program="${1:---help}"
case "$program" in
  allocator|agent|speaker)
    shift
    exec node "$app/dist/$program/main.js" "$@"
    ;;
  kube-lb|cli)
    shift
    exec node "$app/dist/cli/main.js" "$@"
    ;;
  -h|--help|help)
    echo "usage: kube-lb-entrypoint allocator|agent|speaker|kube-lb [ARGS...]"
    ;;
  *)
    echo "kube-lb-entrypoint: unknown program '$program' (allocator, agent, speaker, kube-lb)" >&2
    exit 64
    ;;
esac
