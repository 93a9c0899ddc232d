#!/usr/bin/env bash
# Three kind clusters on the docker network "kind": an LB cluster with Cilium (kube-proxy replacement) and two
# consumer clusters (shop, bank), kube-lb installed on all of them, a VIP pool on the kind network, one demo
# Service per consumer, and a curl to each VIP from a container on the same L2 segment.
# Needs: docker, kind, kubectl, helm. Run from the repository root: deploy/examples/kind/up.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
image="${KUBE_LB_IMAGE:-ghcr.io/kube-lb/kube-lb:v0.1.0}"
cilium_version="${CILIUM_VERSION:-1.18.3}"

echo "== clusters"
kind create cluster --config "$here/lb-cluster.yaml"
kind create cluster --name shop --config "$here/consumer-cluster.yaml"
kind create cluster --name bank --config "$here/consumer-cluster.yaml"

echo "== Cilium in the LB cluster"
helm repo add cilium https://helm.cilium.io >/dev/null 2>&1 || true
helm upgrade --install cilium cilium/cilium --kube-context kind-lb -n kube-system --version "$cilium_version" \
  -f "$here/cilium-values.yaml" --set k8sServiceHost=lb-control-plane --wait

echo "== the kube-lb image"
if ! docker image inspect "$image" >/dev/null 2>&1; then docker build -t "$image" "$root"; fi
for c in lb shop bank; do kind load docker-image "$image" --name "$c"; done

echo "== kube-lb in the LB cluster"
kubectl --context kind-lb label node lb-worker lb-worker2 kube-lb.io/lb-node=true --overwrite
kubectl --context kind-lb apply --server-side -f "$root/deploy/kube-lb-cluster/"
# The speakers read Cilium's configuration from a copy of its ConfigMap in their own namespace (docs/cilium.md).
kubectl --context kind-lb -n kube-lb-system create configmap cilium-config --dry-run=client -o yaml --from-env-file=<(
  kubectl --context kind-lb -n kube-system get configmap cilium-config \
    -o go-template='{{range $k, $v := .data}}{{$k}}={{$v}}{{"\n"}}{{end}}') | kubectl --context kind-lb apply -f -
kubectl --context kind-lb -n kube-lb-system rollout status deploy/kube-lb-allocator --timeout=180s
kubectl --context kind-lb -n kube-lb-system rollout status ds/kube-lb-speaker --timeout=180s

# VIPs from the top of the kind network's IPv4 subnet (docker hands out addresses from the bottom).
subnet="$(docker network inspect kind -f '{{range .IPAM.Config}}{{.Subnet}} {{end}}' | tr ' ' '\n' | grep -m1 '\.')"
prefix="${subnet%.*.*}"
kubectl --context kind-lb apply -f - <<YAML
apiVersion: kube-lb.io/v1alpha1
kind: VIPPool
metadata: {name: kind}
spec: {addresses: ["${prefix}.255.200-${prefix}.255.250"]}
---
apiVersion: kube-lb.io/v1alpha1
kind: L2Announcement
metadata: {name: kind}
spec:
  interfaces: ["eth0"]
  # Pools for other segments (the containerlab example's "front") carry a segment label and are announced elsewhere.
  poolSelector: {matchExpressions: [{key: segment, operator: DoesNotExist}]}
YAML

echo "== tenants"
lb_ca="$(mktemp)"
kubectl --context kind-lb config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' | base64 -d > "$lb_ca"
for c in shop bank; do
  # All clusters share the kind subnet, so each tenant's backend networks are its own nodes' addresses (/32s).
  cidrs=()
  for ip in $(kubectl --context "kind-$c" get nodes -o jsonpath='{.items[*].status.addresses[?(@.type=="InternalIP")].address}'); do
    cidrs+=(--backend-cidr "$ip/32")
  done
  # The consumers' agents reach the LB API server by its container name on the kind network.
  docker run --rm --network host --user "$(id -u):$(id -g)" -v "$HOME/.kube:/kube:ro" -v "$lb_ca:/ca.pem:ro" -e KUBECONFIG=/kube/config "$image" \
    kube-lb tenant add "$c" --context kind-lb "${cidrs[@]}" \
    --server https://lb-control-plane:6443 --certificate-authority /ca.pem > "/tmp/kube-lb-$c.yaml"
  kubectl --context "kind-$c" apply --server-side -f "$root/deploy/lb-consumer-cluster/"
  kubectl --context "kind-$c" apply -f "/tmp/kube-lb-$c.yaml"
  kubectl --context "kind-$c" -n kube-lb-system rollout status deploy/kube-lb-agent --timeout=180s
  kubectl --context "kind-$c" apply -f "$here/demo-service.yaml"
done
rm -f "$lb_ca"

echo "== traffic"
for c in shop bank; do
  vip=""
  for _ in $(seq 60); do
    vip="$(kubectl --context "kind-$c" get svc echo -o jsonpath='{.status.loadBalancer.ingress[0].ip}')"
    [ -n "$vip" ] && break
    sleep 2
  done
  echo "$c: echo has EXTERNAL-IP $vip"
  docker run --rm --network kind curlimages/curl:8.10.1 -s --retry 10 --retry-all-errors --max-time 5 "http://$vip/hostname"
  echo
done
docker run --rm --network host --user "$(id -u):$(id -g)" -v "$HOME/.kube:/kube:ro" -e KUBECONFIG=/kube/config "$image" kube-lb status --context kind-lb
