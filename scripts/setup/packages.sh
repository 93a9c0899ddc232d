#!/usr/bin/env bash
# Installs the Debian packages the dataplane, L2, Cilium and end-to-end tests need, only the ones missing.
set -euo pipefail
need=()
have_cmd() { command -v "$1" >/dev/null 2>&1; }
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
have_cmd clang || need+=(clang)
have_cmd llc || need+=(llvm)
have_pkg libbpf-dev || need+=(libbpf-dev)
have_cmd bpftool || need+=(bpftool)
have_cmd ip || need+=(iproute2)
have_cmd arping || need+=(arping)
have_cmd tcpdump || need+=(tcpdump)
have_cmd curl || need+=(curl)
# Real Cilium agents compile their datapath with clang/llc 19 at run time (test/cilium/lines.json names the
# version per line); 1.20 runs its iptables reconciler under kube-proxy replacement.
have_cmd clang-19 || need+=(clang-19)
have_cmd llc-19 || need+=(llvm-19)
have_cmd iptables || need+=(iptables)
# The lab's consumer nodes run real kube-proxy in nftables mode, which drives the kernel through the nft command.
have_cmd nft || need+=(nftables)
# BGP mode: each lab LB node runs FRR (bgpd, bfdd, zebra; the speaker drives it through vtysh and frr-reload.py),
# and the lab's router runs BIRD 2, a different implementation, so the two interoperate as they would in a DC.
have_cmd vtysh || need+=(frr)
have_pkg frr-pythontools || need+=(frr-pythontools)
have_cmd bird || need+=(bird2)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then echo "packages.sh: missing ${need[*]} and not root to install them" >&2; exit 1; fi
echo "packages.sh: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
