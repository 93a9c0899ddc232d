#!/bin/sh
# frr-guard.sh: runs FRR (zebra, bgpd, bfdd) for the kube-lb speaker in BGP mode, and makes sure no route it
# announces outlives the speaker.
#
# Why: the speaker configures bgpd through vtysh, and bgpd keeps announcing whatever it was told after the speaker
# is gone (crashed, OOM-killed, SIGKILLed, its container restarting). A VIP announced by a node whose speaker no
# longer programs the dataplane draws traffic into a black hole. So the speaker holds a FIFO open for as long as
# it lives (the kernel closes it on every kind of death, SIGKILL included), and this guard reads the FIFO: end of
# file means every speaker process is gone, and the guard shuts down and removes every BGP instance at once: bgpd
# closes every session with a Cease (Administrative Shutdown) NOTIFICATION and the routers withdraw the routes in a
# round trip, instead of waiting out a hold timer (or a graceful restart) or never. When the speaker comes back it
# opens the FIFO again and re-applies its configuration.
#
# If an FRR daemon dies, the guard stops the others and exits non-zero (Kubernetes restarts the container: a
# half-running FRR is worse than none). On SIGTERM it stops the daemons and exits 0.
#
# Usage: frr-guard.sh [--vty-dir DIR] [--zserv PATH] [--conf-dir DIR] [--alive-fifo PATH]
# or the environment: FRR_VTY_DIR, FRR_ZSERV, FRR_CONF_DIR, KUBE_LB_ALIVE_FIFO (flags win). Optional:
# FRR_BIN_DIR (/usr/lib/frr), FRR_VTYSH (vtysh), FRR_BGP_PORT (179), FRR_LOG_LEVEL (informational),
# FRR_WITHDRAW_TIMEOUT (seconds vtysh gets to remove the configuration before bgpd is killed instead; 5),
# FRR_USER and FRR_GROUP (frr).
set -u

vty_dir="${FRR_VTY_DIR:-/var/run/frr}"
zserv="${FRR_ZSERV:-}"
conf_dir="${FRR_CONF_DIR:-/etc/frr}"
fifo="${KUBE_LB_ALIVE_FIFO:-}"
bin_dir="${FRR_BIN_DIR:-/usr/lib/frr}"
vtysh_bin="${FRR_VTYSH:-vtysh}"
bgp_port="${FRR_BGP_PORT:-179}"
log_level="${FRR_LOG_LEVEL:-informational}"
withdraw_timeout="${FRR_WITHDRAW_TIMEOUT:-5}"
# FRR refuses to run as a user outside its vty group (frrvty), root included: the daemons drop to frr.
frr_user="${FRR_USER:-frr}"
frr_group="${FRR_GROUP:-frr}"

usage() {
  echo "usage: $0 [--vty-dir DIR] [--zserv PATH] [--conf-dir DIR] [--alive-fifo PATH]" >&2
  exit 2
}

while [ $# -gt 0 ]; do
  case "$1" in
    --vty-dir) [ $# -ge 2 ] || usage; vty_dir="$2"; shift 2 ;;
    --zserv) [ $# -ge 2 ] || usage; zserv="$2"; shift 2 ;;
    --conf-dir) [ $# -ge 2 ] || usage; conf_dir="$2"; shift 2 ;;
    --alive-fifo) [ $# -ge 2 ] || usage; fifo="$2"; shift 2 ;;
    *) usage ;;
  esac
done
[ -n "$zserv" ] || zserv="$vty_dir/zserv.api"
[ -n "$fifo" ] || { echo "frr-guard: KUBE_LB_ALIVE_FIFO (or --alive-fifo) is required" >&2; exit 2; }

log() { echo "frr-guard: $*" >&2; }

mkdir -p "$vty_dir" "$conf_dir" || exit 1
# The daemons create their sockets and pid files here after dropping to $frr_user.
chown "$frr_user:$frr_group" "$vty_dir" || exit 1
# The FIFO is the speaker's lifeline, not a channel: nobody writes to it. Only root (the speaker) may open it.
if [ ! -p "$fifo" ]; then
  rm -f "$fifo"
  mkfifo -m 600 "$fifo" || { log "cannot create the FIFO $fifo"; exit 1; }
fi

# vtysh.conf: the integrated configuration (frr-reload.py requires it). Each daemon starts from an empty file: the
# speaker applies the whole configuration.
[ -f "$conf_dir/vtysh.conf" ] || echo 'service integrated-vtysh-config' >"$conf_dir/vtysh.conf"
for d in zebra bgpd bfdd; do
  [ -f "$conf_dir/$d.conf" ] || : >"$conf_dir/$d.conf"
done

vtysh() {
  timeout "$withdraw_timeout" "$vtysh_bin" --vty_socket "$vty_dir" --config_dir "$conf_dir" "$@"
}

# Every daemon: its own vty socket directory, zebra socket and pid file; no vty TCP port (-P 0); logs to stdout.
common() {
  echo "--vty_socket $vty_dir -z $zserv -u $frr_user -g $frr_group -P 0 --log stdout --log-level $log_level"
}

pids=""
start() {
  name="$1"
  shift
  # shellcheck disable=SC2046 # common's words are meant to split
  "$bin_dir/$name" $(common) -i "$vty_dir/$name.pid" -f "$conf_dir/$name.conf" "$@" &
  pids="$pids $!"
  eval "pid_$name=$!"
}

watcher=""
sleeper=""
stop_all() {
  for p in $watcher $sleeper $pids; do kill "$p" 2>/dev/null; done
  for p in $watcher $sleeper $pids; do wait "$p" 2>/dev/null; done
}
trap 'log "SIGTERM: stopping FRR"; stop_all; exit 0' TERM INT

start zebra
# bgpd and bfdd need zebra's socket: wait for it (a few seconds at the most).
i=0
while [ ! -S "$zserv" ]; do
  i=$((i + 1))
  if [ "$i" -gt 100 ] || ! kill -0 "$pid_zebra" 2>/dev/null; then
    log "zebra did not open $zserv"
    stop_all
    exit 1
  fi
  sleep 0.1
done
start bgpd -p "$bgp_port"
start bfdd --bfdctl "$vty_dir/bfdd.sock"

# Removes every BGP instance (VRF instances first: the default one cannot go while they exist). If vtysh does not
# answer in time, bgpd is killed: its sessions drop with it, and the guard exits below as for any dead daemon.
withdraw() {
  running="$(vtysh -c 'show running-config bgpd')" || {
    log "vtysh did not answer: killing bgpd"
    kill -9 "$pid_bgpd" 2>/dev/null
    return
  }
  set --
  for pass in vrf default; do
    for asn_vrf in $(echo "$running" | awk -v pass="$pass" '
      $1 == "router" && $2 == "bgp" {
        if (pass == "vrf" && $4 == "vrf") print $3 "/" $5
        if (pass == "default" && NF == 3) print $3 "/"
      }'); do
      asn="${asn_vrf%%/*}"
      vrf="${asn_vrf#*/}"
      instance="router bgp $asn${vrf:+ vrf $vrf}"
      # `bgp shutdown` first: every session gets a Cease/Administrative Shutdown NOTIFICATION. Removing the
      # instance alone closed the sessions in a way a graceful-restart helper (BIRD by default) took for a restart,
      # keeping the routes as stale for the restart time (120 s) in the lab.
      set -- "$@" -c "$instance" -c "bgp shutdown message kube-lb speaker gone" -c exit -c "no $instance"
    done
  done
  [ $# -gt 0 ] || { log "speaker gone; no BGP configuration to remove"; return; }
  log "speaker gone: removing the BGP configuration ($*)"
  vtysh -c 'configure terminal' "$@" >&2 || {
    log "vtysh did not remove the configuration: killing bgpd"
    kill -9 "$pid_bgpd" 2>/dev/null
  }
}

# The watcher: opening the FIFO blocks until a speaker holds it; the read ends when the last holder is gone.
(
  cat_pid=""
  trap '[ -n "$cat_pid" ] && kill "$cat_pid" 2>/dev/null && wait "$cat_pid"; exit 0' TERM
  while :; do
    cat "$fifo" >/dev/null &
    cat_pid=$!
    if ! wait "$cat_pid"; then
      # The FIFO is gone or unreadable: make it again rather than spin.
      log "cannot read $fifo: creating it again"
      rm -f "$fifo"
      mkfifo -m 600 "$fifo"
      sleep 1
    fi
    cat_pid=""
    withdraw
  done
) &
watcher=$!

log "FRR started (zebra $pid_zebra, bgpd $pid_bgpd, bfdd $pid_bfdd); waiting for a speaker on $fifo"

# alive PID: running, not a zombie waiting to be reaped.
alive() {
  [ -r "/proc/$1/stat" ] || return 1
  state="$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)"
  [ -n "$state" ] && [ "$state" != Z ]
}

while :; do
  for name in zebra bgpd bfdd; do
    eval "p=\$pid_$name"
    if ! alive "$p"; then
      log "$name (pid $p) exited: stopping FRR"
      stop_all
      exit 1
    fi
  done
  if ! alive "$watcher"; then
    log "the FIFO watcher exited: stopping FRR"
    stop_all
    exit 1
  fi
  # A background sleep, so that SIGTERM interrupts the wait at once.
  sleep 1 &
  sleeper=$!
  wait "$sleeper"
  sleeper=""
done
