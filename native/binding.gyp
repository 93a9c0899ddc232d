{
  "targets": [
    {
      "target_name": "kube_lb_native",
      "sources": ["src/addon.c", "src/napi_common.c", "src/bpf.c", "src/bpf_cmd.c", "src/arp.c", "src/map_watch.c", "src/write_behind.c"],
      "libraries": ["-lbpf"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Werror=implicit-function-declaration", "-O2"],
      "defines": ["NAPI_VERSION=9"]
    }
  ]
}
