#!/usr/bin/env bash
# Three "pods" on one machine: three network namespaces, each with its own address on a bridge
# (10.77.N.1-3/24; the root namespace is 10.77.N.254), each running quantd bound to its own
# address. quantctl, in the root namespace, converts stories260K and quantizes it across the three
# with small chunks and slowed servers, and one server is killed (SIGKILL, like a lost node)
# mid-run. The result must be byte-identical to an in-process run with the same chunking; every
# server must have encoded chunks; the two survivors must drain and exit 0 on SIGTERM.
# Skips (exit 77) when network namespaces cannot be made here (not root, or no CAP_SYS_ADMIN).
# Environment: QUANTD, QUANTCTL, PYTHON, DATA_DIR.
set -euo pipefail
tag="qd$$"
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2> /dev/null || true; done
  wait 2> /dev/null || true
  # Deleting the root end of a veth pair deletes both; a namespace itself goes asynchronously.
  for i in 1 2 3; do ip link del "${tag}v$i" 2> /dev/null || true; done
  for i in 1 2 3 probe; do ip netns del "$tag-$i" 2> /dev/null || true; done
  ip link del "${tag}br" 2> /dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  for f in "$work"/*.log; do echo "--- $f" >&2; tail -5 "$f" >&2; done
  exit 1
}

if ! ip netns add "$tag-probe" 2> "$work/probe.err"; then
  echo "SKIP: cannot create network namespaces here ($(cat "$work/probe.err")); needs root with CAP_SYS_ADMIN"
  exit 77
fi
ip netns del "$tag-probe"

# A /24 no route uses yet, so that runs on one machine at the same time do not collide.
net=""
for n in $(seq $(($$ % 200 + 20)) 254) $(seq 20 254); do
  if [ -z "$(ip -4 route show "10.77.$n.0/24")" ] && ! ip -4 addr | grep -q "10\.77\.$n\."; then net="10.77.$n"; break; fi
done
[ -n "$net" ] || fail "no free 10.77.N.0/24"

ip link add "${tag}br" type bridge
ip addr add "$net.254/24" dev "${tag}br"
ip link set "${tag}br" up
for i in 1 2 3; do
  ip netns add "$tag-$i"
  ip link add "${tag}v$i" type veth peer name eth0 netns "$tag-$i"
  ip link set "${tag}v$i" master "${tag}br" up
  ip -n "$tag-$i" addr add "$net.$i/24" dev eth0
  ip -n "$tag-$i" link set eth0 up
  ip -n "$tag-$i" link set lo up
done

declare -A server
for i in 1 2 3; do
  # --debug-chunk-delay-ms slows every chunk, so that the run is still going when a server dies.
  ip netns exec "$tag-$i" "$QUANTD" --listen "$net.$i:50051" --metrics-listen "$net.$i:9464" \
    --health-listen "$net.$i:50052" --threads 1 --grace-seconds 5 --debug-chunk-delay-ms 25 --name "pod-$i" \
    > "$work/quantd-$i.log" 2>&1 &
  server[$i]=$!
  pids+=("$!")
done
for i in 1 2 3; do
  for _ in $(seq 100); do grep -q "listening on port" "$work/quantd-$i.log" && break; sleep 0.1; done
  grep -q "listening on port" "$work/quantd-$i.log" || fail "quantd $i did not start"
done
# The pods reach each other over the bridge, and each server listens in its own namespace only.
ip netns exec "$tag-1" bash -c "exec 3<>/dev/tcp/$net.2/50051" || fail "pod 1 cannot reach pod 2 over the bridge"
listening=$(ip netns exec "$tag-1" ss -Htln)
# (gRPC listens on the IPv4-mapped IPv6 form, [::ffff:10.77.N.1]:50051.)
grep -Eq "${net//./\\.}\\.1\\]?:50051" <<< "$listening" || fail "quantd 1 is not listening inside its namespace"

chunks() {  # chunks server $1 has encoded, from its /metrics
  "$PYTHON" - "$net.$1" <<'PY'
import re, sys, urllib.request
text = urllib.request.urlopen(f"http://{sys.argv[1]}:9464/metrics", timeout=5).read().decode()
print(int(sum(float(v) for v in re.findall(r"^quantd_chunks_total\{[^}]*\} (\S+)", text, re.M))))
PY
}

"$QUANTCTL" convert-llama2c "$DATA_DIR/stories260K/stories260K.bin" "$work/s.safetensors" > /dev/null
common=(--method rtn --bits 4 --chunk-bytes 4096 --progress none)
"$QUANTCTL" quantize "${common[@]}" "$work/s.safetensors" "$work/local.safetensors" > /dev/null

"$QUANTCTL" quantize "${common[@]}" --servers "$net.1:50051,$net.2:50051,$net.3:50051" --window 1 \
  "$work/s.safetensors" "$work/remote.safetensors" > "$work/quantctl.log" 2>&1 &
client=$!
pids+=("$client")
for _ in $(seq 300); do [ "$(chunks 2)" -ge 5 ] && break; sleep 0.05; done
before=$(chunks 2)
[ "$before" -ge 5 ] || fail "server 2 encoded only $before chunks"
kill -0 "$client" 2> /dev/null || fail "the run ended before a server could be killed; slow it down"
kill -9 "${server[2]}"
wait "${server[2]}" 2> /dev/null || true
echo "killed server 2 after it had encoded $before chunks"
wait "$client" || fail "quantctl failed after losing a server"
tail -n 2 "$work/quantctl.log"
cmp "$work/local.safetensors" "$work/remote.safetensors" || fail "the output differs from the in-process run"

for i in 1 3; do
  n=$(chunks "$i")
  echo "server $i encoded $n chunks"
  [ "$n" -gt 0 ] || fail "server $i encoded nothing"
  kill -TERM "${server[$i]}"
  wait "${server[$i]}" || fail "quantd $i did not exit 0 after SIGTERM"
done
pids=()
echo "netns: 3 servers in 3 network namespaces, one killed mid-run, output byte-identical"
