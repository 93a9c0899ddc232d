#!/usr/bin/env bash
# After `containerlab deploy`: let Cilium attach to the new eth1 of the LB nodes, add the front pool, and move the
# shop tenant's demo Service onto it; then curl the VIP from the client and show who answers ARP.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# Cilium picks its devices at start: restart it so its datapath also runs on eth1.
kubectl --context kind-lb -n kube-system rollout restart ds/cilium
kubectl --context kind-lb -n kube-system rollout status ds/cilium --timeout=180s
kubectl --context kind-lb apply -f "$here/front-pool.yaml"
# A different pool means a different VIP: recreate the Service with the pool annotation from the start.
kubectl --context kind-shop delete svc echo
kubectl annotate --local -o yaml -f "$here/../kind/demo-service.yaml" kube-lb.io/pool=front | kubectl --context kind-shop apply -f -
vip=""
for _ in $(seq 60); do
  vip="$(kubectl --context kind-shop get svc echo -o jsonpath='{.status.loadBalancer.ingress[0].ip}')"
  case "$vip" in 192.168.100.*) break ;; esac
  sleep 2
done
echo "shop/echo: $vip"
docker exec clab-kube-lb-client arping -c 3 -I eth1 "$vip"
docker exec clab-kube-lb-client curl -s --retry 10 --retry-all-errors --max-time 5 "http://$vip/hostname"
echo
echo "Watch a failover: docker exec clab-kube-lb-client tcpdump -eni eth1 arp   while   docker stop <owner node>"
