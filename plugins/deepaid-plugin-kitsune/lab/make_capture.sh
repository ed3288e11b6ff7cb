#!/usr/bin/env bash
# A small traffic lab for `deepaid bench kitsune --pcap FILE --labels FILE`.
#
# Builds network namespaces joined by veth pairs on a bridge that itself lives in a namespace
# (every address exists only inside the namespaces), runs benign clients against real servers
# and five attacks from Debian's packages, each bounded in count and time, captures the bridge
# with tcpdump and writes the attack segments to a labels file. Everything is removed on exit.
#
# Needs root and these Debian packages:
#   apt-get install nmap hydra hping3 tcpdump iperf3 dnsmasq-base openssh-server openssh-client \
#                   curl dnsutils iproute2 python3
#
# Usage: [SNAPLEN=96] make_capture.sh OUT_DIR [BENIGN_SECONDS]   (SNAPLEN: tcpdump -s, default whole frames)
#   OUT_DIR/capture.pcap  the bridge's traffic (full frames)
#   OUT_DIR/labels.csv    start,end,label,attacker,victim  (epoch seconds, the capture's clock)
# A packet is an attack packet when its time is inside a segment and its two IP addresses are
# the segment's attacker and victim; every other packet is benign.
set -euo pipefail

OUT=${1:?usage: make_capture.sh OUT_DIR [BENIGN_SECONDS]}
BENIGN=${2:-150}          # benign-only warm-up before the first attack (the detector's training part)
GAP=12                    # benign-only seconds between attacks
TAIL=20                   # benign-only seconds after the last attack
P=dlab                    # namespace prefix
NET=10.77.0
SRV=$NET.10; CLI1=$NET.21; CLI2=$NET.22; ATK=$NET.66
WORK=$(mktemp -d /tmp/dlab.XXXXXX)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

for tool in nmap hydra hping3 tcpdump iperf3 dnsmasq sshd ssh dig curl ip python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool (see the apt-get line at the top)" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "run as root (network namespaces)" >&2; exit 2; }

cleanup() {
  set +e
  for ns in sw srv cli1 cli2 atk; do
    pids=$(ip netns pids "$P-$ns" 2>/dev/null)
    [ -n "$pids" ] && kill $pids 2>/dev/null
  done
  sleep 1
  for ns in sw srv cli1 cli2 atk; do
    pids=$(ip netns pids "$P-$ns" 2>/dev/null)
    [ -n "$pids" ] && kill -9 $pids 2>/dev/null
    ip netns del "$P-$ns" 2>/dev/null
  done
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
cleanup 2>/dev/null; WORK=$(mktemp -d /tmp/dlab.XXXXXX)

nsx() { local ns=$1; shift; ip netns exec "$P-$ns" "$@"; }
now() { date +%s.%N; }

# --- topology: a bridge in namespace sw, one veth pair per host ---------------------------------
ip netns add "$P-sw"
nsx sw ip link add br0 type bridge
nsx sw ip link set br0 up
nsx sw ip link set lo up
for spec in "srv $SRV" "cli1 $CLI1" "cli2 $CLI2" "atk $ATK"; do
  set -- $spec
  ip netns add "$P-$1"
  ip link add "v-$1" netns "$P-sw" type veth peer name eth0 netns "$P-$1"
  nsx sw ip link set "v-$1" master br0 up
  nsx "$1" ip addr add "$2/24" dev eth0
  nsx "$1" ip link set eth0 up
  nsx "$1" ip link set lo up
done

# --- servers on the victim: http, dns, ssh, iperf3 ------------------------------------------------
mkdir -p "$WORK/www" /run/sshd
head -c 300000 /dev/urandom >"$WORK/www/blob.bin"
for i in $(seq 1 20); do echo "<html><body>page $i $(head -c 2000 /dev/urandom | base64 -w0)</body></html>" >"$WORK/www/p$i.html"; done
nsx srv python3 -m http.server 80 --bind "$SRV" --directory "$WORK/www" >/dev/null 2>&1 &
nsx srv dnsmasq --no-daemon --no-resolv --no-hosts --listen-address="$SRV" --bind-interfaces \
  --address=/lab.test/$SRV --address=/files.lab.test/$SRV --pid-file="$WORK/dnsmasq.pid" >/dev/null 2>&1 &
ssh-keygen -q -t ed25519 -N '' -f "$WORK/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/client_key"
cp "$WORK/client_key.pub" "$WORK/authorized_keys"
cat >"$WORK/sshd_config" <<EOF
ListenAddress $SRV
HostKey $WORK/host_key
PermitRootLogin prohibit-password
PasswordAuthentication yes
KbdInteractiveAuthentication no
AuthorizedKeysFile $WORK/authorized_keys
MaxStartups 64:30:128
MaxAuthTries 6
UsePAM no
PidFile $WORK/sshd.pid
EOF
nsx srv /usr/sbin/sshd -D -e -f "$WORK/sshd_config" 2>"$WORK/sshd.log" &
nsx srv iperf3 -s -B "$SRV" >/dev/null 2>&1 &
sleep 2

# --- capture ---------------------------------------------------------------------------------------
# Started directly (not through nsx): ip execs tcpdump, so $! is tcpdump itself and SIGINT reaches it.
ip netns exec "$P-sw" tcpdump -i br0 -s "${SNAPLEN:-0}" -U -w "$OUT/capture.pcap" 2>"$WORK/tcpdump.log" &
TCPDUMP=$!
sleep 1
T0=$(now)

# --- benign clients (both clients, for the whole run) ---------------------------------------------
SSHO=(-i "$WORK/client_key" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR)
benign_web() {  # pages, now and then the 300 kB file, at a human pace
  local ns=$1 i=0
  while :; do
    i=$((i + 1))
    nsx "$ns" curl -s -o /dev/null --max-time 5 "http://$SRV/p$((RANDOM % 20 + 1)).html" || true
    [ $((i % 15)) = 0 ] && { nsx "$ns" curl -s -o /dev/null --max-time 10 "http://$SRV/blob.bin" || true; }
    sleep "0.$((RANDOM % 9 + 1))"
  done
}
benign_dns() {
  local ns=$1
  while :; do
    nsx "$ns" dig +short +time=2 +tries=1 "@$SRV" "h$((RANDOM % 50)).lab.test" >/dev/null || true
    sleep "0.$((RANDOM % 9 + 1))"
  done
}
benign_ssh() {  # a command, and every third round a copy with scp
  local ns=$1 i=0
  while :; do
    i=$((i + 1))
    nsx "$ns" timeout 20 ssh "${SSHO[@]}" "root@$SRV" "uptime; ls /tmp | head -5" >/dev/null 2>&1 || true
    [ $((i % 3)) = 0 ] && { nsx "$ns" timeout 30 scp -q "${SSHO[@]}" "$WORK/www/blob.bin" "root@$SRV:$WORK/copy_$ns.bin" >/dev/null 2>&1 || true; }
    sleep $((RANDOM % 5 + 4))
  done
}
benign_iperf() {  # a short, rate-capped transfer every half minute
  local ns=$1
  sleep $((RANDOM % 10 + 5))
  while :; do
    nsx "$ns" timeout 15 iperf3 -c "$SRV" -t 3 -b 8M >/dev/null 2>&1 || true
    sleep $((RANDOM % 10 + 25))
  done
}
BENIGN_PIDS=()
for ns in cli1 cli2; do
  benign_web "$ns" & BENIGN_PIDS+=($!)
  benign_dns "$ns" & BENIGN_PIDS+=($!)
  benign_ssh "$ns" & BENIGN_PIDS+=($!)
done
benign_iperf cli1 & BENIGN_PIDS+=($!)

echo "start,end,label,attacker,victim" >"$OUT/labels.csv"
attack() {  # attack LABEL SECONDS CMD...: run bounded in the attacker's namespace, record its segment
  local label=$1 limit=$2; shift 2
  local start end
  start=$(now)
  nsx atk timeout "$limit" "$@" >"$WORK/$label.log" 2>&1 || true
  end=$(now)
  echo "$start,$end,$label,$ATK,$SRV" >>"$OUT/labels.csv"
  echo "$(date -u +%T) $label: $(printf '%.1f' "$(echo "$end - $start" | bc)") s" >&2
  sleep "$GAP"
}

echo "$(date -u +%T) benign warm-up ${BENIGN} s" >&2
sleep "$BENIGN"
printf '%s\n' 123456 password admin root toor letmein qwerty dragon monkey master >"$WORK/words"
for i in $(seq 1 110); do echo "pass$i$((RANDOM % 1000))"; done >>"$WORK/words"

attack syn_scan 40 nmap -n -Pn -sS -p 1-3000 --max-rate 400 "$SRV"
attack version_scan 60 nmap -n -Pn -sV --version-intensity 5 -p 22,53,80,5201 "$SRV"
attack ssh_bruteforce 60 hydra -l admin -P "$WORK/words" -t 4 -w 5 -I "ssh://$SRV"
attack syn_flood 30 hping3 -q -S -p 80 -i u300 -c 30000 "$SRV"
attack udp_flood 30 hping3 -q --udp -p 5353 -d 120 -i u300 -c 30000 "$SRV"
sleep "$TAIL"

kill "${BENIGN_PIDS[@]}" 2>/dev/null || true
wait "${BENIGN_PIDS[@]}" 2>/dev/null || true
sleep 2
kill -INT "$TCPDUMP"; wait "$TCPDUMP" 2>/dev/null || true
T1=$(now)
echo "capture: $OUT/capture.pcap ($(stat -c %s "$OUT/capture.pcap") bytes, $(printf '%.0f' "$(echo "$T1 - $T0" | bc)") s)" >&2
cat "$WORK/tcpdump.log" >&2
