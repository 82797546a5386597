#!/usr/bin/env bash
# bench/mesh.sh: compares the Weft proxy pair with an HAProxy pair and with no proxy at all,
# on this machine, over loopback only. See docs/benchmarks.md.
#
#   direct:   fortio -> backend
#   weft:     fortio -> weft-proxy A (outbound, HTTP/1.1) -> mTLS -> weft-proxy B (inbound) -> backend
#   haproxy:  fortio -> haproxy A (HTTP/1.1) -> mTLS, HTTP/2 or HTTP/1.1 -> haproxy B -> backend
#
# For each: the max requests/s (fortio -qps 0 -c 32), p50/p99 latency at 1000 requests/s
# (-qps 1000 -c 16), and for the proxies their RSS (idle and under load) and CPU per 1000 rps.
# The results go to bench/results/latest.json; a table and the weft/haproxy ratios are printed.
#
# Usage: bench/mesh.sh [--duration SECONDS] [--setups "direct weft haproxy"] [--out FILE]
set -euo pipefail

DURATION=10
SETUPS="direct weft haproxy"
FORTIO_VERSION=v1.66.5

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
OUT=$BENCH/results/latest.json

usage() { sed -n '2,15s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }
log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'mesh.sh: %s\n' "$*" >&2; exit 1; }

while (($#)); do
	case $1 in
	--duration) DURATION=${2:?--duration needs a value}; shift 2 ;;
	--duration=*) DURATION=${1#*=}; shift ;;
	--setups) SETUPS=${2:?--setups needs a value}; shift 2 ;;
	--setups=*) SETUPS=${1#*=}; shift ;;
	--out) OUT=${2:?--out needs a value}; shift 2 ;;
	--out=*) OUT=${1#*=}; shift ;;
	-h | --help) usage; exit 0 ;;
	*) die "unknown argument $1 (see --help)" ;;
	esac
done
DURATION=${DURATION%s}
[[ $DURATION =~ ^[1-9][0-9]*$ ]] || die "--duration must be a whole number of seconds, not $DURATION"
for s in $SETUPS; do
	[[ $s =~ ^(direct|weft|haproxy)$ ]] || die "unknown setup $s: want direct, weft or haproxy"
done

# The proxies and the backend run with Go's defaults: all cores.
unset GOMAXPROCS GOGC

WORK=$(mktemp -d "${TMPDIR:-/tmp}/weft-bench.XXXXXX")
BIN=$WORK/bin
LOGS=$WORK/logs
RESULTS=$WORK/results
mkdir -p "$BIN" "$LOGS" "$RESULTS"
PIDS=() # everything started in the background, stopped on exit

# stop_pids sends SIGTERM, then SIGKILL to whoever is still there after 5 seconds.
stop_pids() {
	(($#)) || return 0
	local p i
	for p; do kill -TERM "$p" 2>/dev/null || true; done
	for p; do
		for ((i = 0; i < 50; i++)); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	stop_pids "${PIDS[@]}"
	if ((rc == 0)); then
		rm -rf "$WORK"
	else
		printf 'mesh.sh failed; the logs are kept in %s\n' "$LOGS" >&2
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- tools -------------------------------------------------------------------------------

SUDO=()
((EUID == 0)) || SUDO=(sudo)
APT_UPDATED=
need_apt() { # need_apt PACKAGE COMMAND
	command -v "$2" >/dev/null && return
	log "installing $1 (apt-get)"
	if [[ -z $APT_UPDATED ]]; then
		"${SUDO[@]}" apt-get update -qq
		APT_UPDATED=1
	fi
	DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq "$1" >/dev/null
}

install_tools() {
	command -v go >/dev/null || die "the go command is needed to build weftd, weft-proxy and the backend"
	if [[ $SETUPS == *haproxy* ]]; then
		need_apt haproxy haproxy
		need_apt openssl openssl
	fi
	need_apt curl curl
	FORTIO=$BENCH/.bin/fortio
	if ! [[ -x $FORTIO ]] || [[ $("$FORTIO" version 2>/dev/null) != "${FORTIO_VERSION#v}"* ]]; then
		log "installing fortio $FORTIO_VERSION into $BENCH/.bin (go install)"
		GOBIN=$BENCH/.bin go install "fortio.org/fortio@$FORTIO_VERSION"
	fi
	local pkgs=(./bench/backend ./bench/benchtool)
	[[ $SETUPS == *weft* ]] && pkgs+=(./cmd/weftd ./cmd/weft-proxy ./cmd/weft)
	log "building ${pkgs[*]}"
	# The same flags as scripts/build.sh: the binaries as they ship.
	(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -tags grpcnotrace -o "$BIN/" "${pkgs[@]}")
	CLK_TCK=$(getconf CLK_TCK)
}

# ---- processes ---------------------------------------------------------------------------

# start NAME COMMAND...: runs COMMAND in the background, its output in $LOGS/NAME.log; the
# process ID is left in LAST_PID.
start() {
	local name=$1
	shift
	"$@" >"$LOGS/$name.log" 2>&1 &
	LAST_PID=$!
	PIDS+=("$LAST_PID")
}

# fail_with_log NAME MESSAGE: dies showing the end of NAME's log.
fail_with_log() {
	printf '%s: last lines of %s:\n' "$2" "$LOGS/$1.log" >&2
	tail -n 20 "$LOGS/$1.log" >&2 || true
	die "$2"
}

# wait_until NAME PID SECONDS COMMAND...: polls COMMAND until it succeeds; fails if PID exits
# or the time is up.
wait_until() {
	local name=$1 pid=$2 timeout=$3
	local deadline=$((SECONDS + timeout))
	shift 3
	until "$@" >/dev/null 2>&1; do
		kill -0 "$pid" 2>/dev/null || fail_with_log "$name" "$name exited"
		((SECONDS < deadline)) || fail_with_log "$name" "$name not ready after ${timeout}s"
		sleep 0.1
	done
}

http_ok() { curl -fsS -o /dev/null --max-time 2 "$1"; }

free_ports() { "$BIN/benchtool" ports "$1"; }

# ---- measurement -------------------------------------------------------------------------

fortio_load() { # fortio_load NAME JSON FORTIO-ARGS... URL
	local name=$1 json=$2
	shift 2
	"$FORTIO" load -keepalive=true -r 0.00001 -p 50,99 -json "$json" "$@" >>"$LOGS/fortio-$name.log" 2>&1 ||
		fail_with_log "fortio-$name" "fortio failed on $name"
}

# measure NAME URL [PROXY-PID...]: measures one setup, writes $RESULTS/NAME.json.
measure() {
	local name=$1 url=$2
	shift 2
	local pids=("$@") dir=$WORK/$name extra=()
	mkdir -p "$dir"
	if ((${#pids[@]})); then
		# Idle means settled: the same 3 s after the setup first answered, for every setup.
		sleep 3
		extra+=(-rss-idle "$("$BIN/benchtool" rss "${pids[@]}")")
	fi
	log "$name: warm-up (2s)"
	fortio_load "$name" "$dir/warmup.json" -qps 0 -c 32 -t 2s "$url"

	log "$name: max requests/s (${DURATION}s, 32 connections)"
	local watcher=
	if ((${#pids[@]})); then
		"$BIN/benchtool" rss-watch -for "${DURATION}s" "${pids[@]}" >"$dir/rss-load" &
		watcher=$!
	fi
	fortio_load "$name" "$dir/max.json" -qps 0 -c 32 -t "${DURATION}s" "$url"
	if [[ -n $watcher ]]; then
		wait "$watcher" || die "sampling the memory of $name's proxies failed"
		extra+=(-rss-load "$(cat "$dir/rss-load")")
	fi

	log "$name: latency at 1000 requests/s (${DURATION}s, 16 connections)"
	if ((${#pids[@]})); then
		extra+=(-cpu-before "$("$BIN/benchtool" cpu -clk-tck "$CLK_TCK" "${pids[@]}")")
	fi
	fortio_load "$name" "$dir/fixed.json" -qps 1000 -c 16 -t "${DURATION}s" "$url"
	if ((${#pids[@]})); then
		extra+=(-cpu-after "$("$BIN/benchtool" cpu -clk-tck "$CLK_TCK" "${pids[@]}")")
	fi
	"$BIN/benchtool" result -max "$dir/max.json" -fixed "$dir/fixed.json" "${extra[@]}" >"$RESULTS/$name.json"
	log "$name: $(cat "$RESULTS/$name.json")"
}

# ---- setups ------------------------------------------------------------------------------

start_backend() {
	BACKEND_PORT=$(free_ports 1)
	start backend "$BIN/backend" --listen "127.0.0.1:$BACKEND_PORT"
	BACKEND_PID=$LAST_PID
	wait_until backend "$BACKEND_PID" 10 http_ok "http://127.0.0.1:$BACKEND_PORT/"
}

setup_direct() {
	measure direct "http://127.0.0.1:$BACKEND_PORT/"
}

setup_weft() {
	local api xds a_in a_admin a_out b_in b_admin
	read -r api xds a_in a_admin a_out b_in b_admin <<<"$(free_ports 7 | tr '\n' ' ')"
	local data=$WORK/weftd cfg=$WORK/weftd/client.yaml
	log "weft: starting weftd and two weft-proxy sidecars"
	start weftd "$BIN/weftd" --data-dir "$data" --api-addr "127.0.0.1:$api" --xds-addr "127.0.0.1:$xds"
	local weftd=$LAST_PID
	cat >"$WORK/weft.yaml" <<-EOF
		apiVersion: mesh.weft.dev/v1alpha1
		kind: Service
		metadata: {name: bench, namespace: default}
		spec:
		  ports: [{name: http, port: 8080, appProtocol: http}]
		---
		apiVersion: mesh.weft.dev/v1alpha1
		kind: Service
		metadata: {name: client, namespace: default}
		spec:
		  ports: [{name: http, port: 8080, appProtocol: http}]
	EOF
	wait_until weftd "$weftd" 30 "$BIN/weft" --config "$cfg" apply -f "$WORK/weft.yaml"
	# Each proxy gets its own join token and weftd's token-free bootstrap, as in production.
	local svc
	for svc in bench client; do
		"$BIN/weft" --config "$cfg" token create --namespace default --service-account "$svc" \
			>"$WORK/$svc.token" 2>>"$LOGS/weft-token.log" || fail_with_log weft-token "weft token create failed"
		chmod 600 "$WORK/$svc.token"
	done
	local boot=$data/proxy-bootstrap.json

	start weft-proxy-b "$BIN/weft-proxy" --bootstrap "$boot" --join-token-file "$WORK/bench.token" \
		--service bench --namespace default \
		--address 127.0.0.1 --inbound-port "$b_in" --admin-addr "127.0.0.1:$b_admin" \
		--app "8080=127.0.0.1:$BACKEND_PORT"
	local pb=$LAST_PID
	start weft-proxy-a "$BIN/weft-proxy" --bootstrap "$boot" --join-token-file "$WORK/client.token" \
		--service client --namespace default \
		--address 127.0.0.1 --inbound-port "$a_in" --admin-addr "127.0.0.1:$a_admin" \
		--upstream "bench.default:8080=$a_out"
	local pa=$LAST_PID
	wait_until weft-proxy-b "$pb" 60 http_ok "http://127.0.0.1:$b_admin/ready"
	wait_until weft-proxy-a "$pa" 60 http_ok "http://127.0.0.1:$a_out/"

	measure weft "http://127.0.0.1:$a_out/" "$pa" "$pb"
	stop_pids "$pa" "$pb" "$weftd"
}

make_certs() { # make_certs DIR: an ECDSA P-256 CA, a server and a client certificate
	local dir=$1 who
	mkdir -p "$dir"
	(
		cd "$dir"
		openssl ecparam -name prime256v1 -genkey -noout -out ca.key
		openssl req -x509 -new -key ca.key -sha256 -days 2 -subj "/CN=weft-bench-ca" -out ca.pem
		printf 'subjectAltName=DNS:haproxy-b,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' >ext.cnf
		for who in server client; do
			openssl ecparam -name prime256v1 -genkey -noout -out "$who.key"
			openssl req -new -key "$who.key" -subj "/CN=haproxy-$who" -out "$who.csr"
			openssl x509 -req -in "$who.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -sha256 \
				-extfile ext.cnf -out "$who.crt" 2>/dev/null
			cat "$who.crt" "$who.key" >"$who.pem"
		done
	) >"$LOGS/openssl.log" 2>&1 || fail_with_log openssl "making the HAProxy certificates failed"
}

render() { # render TEMPLATE OUT: fills the @...@ placeholders
	sed -e "s|@A_PORT@|$A_PORT|g" -e "s|@B_PORT@|$B_PORT|g" -e "s|@BACKEND_PORT@|$BACKEND_PORT|g" \
		-e "s|@CERTS@|$CERTS|g" -e "s|@ALPN@|$ALPN|g" "$1" >"$2"
}

setup_haproxy() { # setup_haproxy h1|h2
	local link=$1
	ALPN=h2
	[[ $link == h1 ]] && ALPN=http/1.1
	read -r A_PORT B_PORT <<<"$(free_ports 2 | tr '\n' ' ')"
	render "$BENCH/haproxy/a.cfg.tmpl" "$WORK/haproxy-a-$link.cfg"
	render "$BENCH/haproxy/b.cfg.tmpl" "$WORK/haproxy-b-$link.cfg"
	for cfg in "$WORK/haproxy-a-$link.cfg" "$WORK/haproxy-b-$link.cfg"; do
		haproxy -c -q -f "$cfg" >"$LOGS/haproxy-check.log" 2>&1 || fail_with_log haproxy-check "invalid HAProxy config $cfg"
	done
	log "haproxy_$link: starting HAProxy B and A ($ALPN between them)"
	start "haproxy-b-$link" haproxy -db -f "$WORK/haproxy-b-$link.cfg"
	local hb=$LAST_PID
	start "haproxy-a-$link" haproxy -db -f "$WORK/haproxy-a-$link.cfg"
	local ha=$LAST_PID
	wait_until "haproxy-a-$link" "$ha" 30 http_ok "http://127.0.0.1:$A_PORT/"
	kill -0 "$hb" 2>/dev/null || fail_with_log "haproxy-b-$link" "HAProxy B exited"

	measure "haproxy_$link" "http://127.0.0.1:$A_PORT/" "$ha" "$hb"
	stop_pids "$ha" "$hb"
}

# ---- main --------------------------------------------------------------------------------

install_tools
# cpu_busy_percent: how busy the CPUs were over the last second, from /proc/stat.
cpu_busy_percent() {
	local a b
	read -r -a a < <(head -n 1 /proc/stat)
	sleep 1
	read -r -a b < <(head -n 1 /proc/stat)
	# fields after "cpu": user nice system idle iowait irq softirq steal
	local total=0 i
	for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done
	local idle=$((b[4] - a[4] + b[5] - a[5]))
	echo $(((total - idle) * 100 / (total > 0 ? total : 1)))
}
busy=$(cpu_busy_percent)
log "machine: $(nproc) CPUs, ${busy}% busy before the run; ${DURATION}s per measurement; fortio $("$FORTIO" version)"
if ((busy >= 20)); then
	log "warning: something else uses the CPUs: the figures will be noisy (only ratios within one run mean anything)"
fi
start_backend
reports=()
for s in $SETUPS; do
	case $s in
	direct)
		setup_direct
		reports+=("direct=$RESULTS/direct.json")
		;;
	weft)
		setup_weft
		reports+=("weft=$RESULTS/weft.json")
		;;
	haproxy)
		CERTS=$WORK/certs
		make_certs "$CERTS"
		log "haproxy: $(haproxy -v | head -n 1)"
		setup_haproxy h2
		setup_haproxy h1
		reports+=("haproxy_h2=$RESULTS/haproxy_h2.json" "haproxy_h1=$RESULTS/haproxy_h1.json")
		;;
	esac
done
echo
"$BIN/benchtool" report -out "$OUT" -duration "$DURATION" "${reports[@]}"
echo
log "wrote $OUT"
