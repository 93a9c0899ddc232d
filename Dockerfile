# syntax=docker/dockerfile:1
# One image for the three kube-lb programs and the kube-lb CLI. The first argument chooses the program:
#   allocator | agent | speaker | kube-lb ...
# The build stage runs the project's own scripts (npm ci, `npm run build:all` = native addon + tsc to dist/),
# the same ones CI runs; the runtime stage is slim Node 24 with production dependencies only.
# Build: docker build -t kube-lb:dev .

ARG NODE_VERSION=24

FROM node:${NODE_VERSION}-bookworm AS build
WORKDIR /src
# node-gyp compiles against the headers the Node image ships instead of downloading them.
ENV npm_config_nodedir=/usr/local
# clang compiles the map-watch BPF program; the addon links libbpf, which loads it.
RUN apt-get update && apt-get install -y --no-install-recommends clang libbpf-dev && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY native/ native/
COPY scripts/setup/native.sh scripts/setup/native.sh
COPY src/ src/
RUN npm run build:all && npm prune --omit=dev --no-audit --no-fund

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
LABEL org.opencontainers.image.title="kube-lb" \
      org.opencontainers.image.description="L4 LoadBalancer for bare-metal Kubernetes through Cilium's lb4 maps" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV NODE_ENV=production
# FRR for BGP mode: the speaker drives it with vtysh and frr-reload.py, and the speaker Pod's frr sidecar runs this
# same image (kube-lb-frr-guard), so the daemons and the tools that configure them are always one version.
RUN apt-get update && apt-get install -y --no-install-recommends libbpf1 frr frr-pythontools \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules/ node_modules/
COPY --from=build /src/dist/ dist/
COPY --from=build /src/native/build/Release/kube_lb_native.node native/build/Release/kube_lb_native.node
COPY --from=build /src/native/build/Release/map-watch.bpf.o native/build/Release/map-watch.bpf.o
# `kube-lb tenant add` renders these templates.
COPY deploy/tenant/ deploy/tenant/
COPY deploy/image/entrypoint.sh /usr/local/bin/kube-lb-entrypoint
COPY deploy/frr/frr-guard.sh /usr/local/bin/kube-lb-frr-guard
RUN chmod 0755 /usr/local/bin/kube-lb-entrypoint /usr/local/bin/kube-lb-frr-guard \
 && ln -s /usr/local/bin/kube-lb-entrypoint /usr/local/bin/kube-lb
# The allocator and the agent run as this unprivileged user; the speaker's DaemonSet overrides it with
# runAsUser 0 and an explicit capability list (it opens pinned BPF maps and sets neighbour entries).
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/kube-lb-entrypoint"]
CMD ["--help"]
