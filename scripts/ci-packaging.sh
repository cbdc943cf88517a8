#!/usr/bin/env bash
# ci-packaging.sh checks everything that ships, on a fresh Debian machine as
# root (called by .ci/run after make test):
#
#   - the ARM binaries of make cross under qemu-user, each on the oldest CPU
#     it is for (arm64: Cortex-A53, Pi 3/Zero 2; armv7: Cortex-A7, Pi 2;
#     armv6: ARM1176, Pi Zero/1): version, validate;
#   - an end-to-end run of the arm64 and armv6 binaries under qemu: embedded
#     broker, readings published by the native binary, a window result in
#     the file sink, clean exit on SIGTERM;
#   - the .debs (make deb): contents, modes, control fields; the amd64 one
#     installed with dpkg here (no systemd running), reinstalled, purged;
#   - scripts/install.sh under a temporary root: twice, uninstall, purge;
#   - the unit's hardening (scripts/check-unit.sh) and, where the machine
#     allows namespaces, the unit under a real systemd
#     (scripts/systemd-smoke.sh).
#
# Prints PASS/FAIL/SKIP per check and a summary; exits 1 if any failed.
# Every step is bounded in time; background processes die on exit.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
export DEBIAN_FRONTEND=noninteractive
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"

tmp=$(mktemp -d /var/tmp/rivulet-ci.XXXXXX)
bgpids=()
kill_tree() { # kill_tree PID: the process and its descendants
	local c
	for c in $(cat "/proc/$1/task/$1/children" 2>/dev/null); do
		kill_tree "$c"
	done
	kill -KILL "$1" 2>/dev/null
}
cleanup() {
	for p in "${bgpids[@]}"; do
		kill_tree "$p"
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

npass=0 nfail=0 nskip=0
pass() { echo "PASS  $*"; npass=$((npass + 1)); }
skip() { echo "SKIP  $*"; nskip=$((nskip + 1)); }
fail() { echo "FAIL  $*"; nfail=$((nfail + 1)); }
# check NAME COMMAND...: PASS if COMMAND succeeds, else FAIL with its output.
check() {
	local name=$1
	shift
	if "$@" >"$tmp/out" 2>&1; then
		pass "$name"
		return 0
	fi
	fail "$name"
	tail -20 "$tmp/out" | sed 's/^/      /'
	return 1
}
summary() {
	[[ $nfail == 0 ]] && echo "packaging: PASS in $SECONDS s" || echo "packaging: FAIL after $SECONDS s"
	echo "packaging: $npass passed, $nfail failed, $nskip skipped"
	exit $((nfail > 0))
}

# --- tools ---------------------------------------------------------------
need=()
command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)
command -v adduser >/dev/null || need+=(adduser)
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v unshare >/dev/null || need+=(util-linux)
if ((${#need[@]})); then
	timeout 300 apt-get update -qq &&
		timeout 600 apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
	check "apt-get install ${need[*]}" command -v qemu-aarch64-static adduser systemd-analyze || summary
fi

# --- binaries --------------------------------------------------------------
if ! check "make build cross" timeout 900 make build cross; then
	summary
fi
for f in dist/rivulet-linux-*; do
	echo "      size ${f#dist/}: $(stat -c %s "$f") bytes"
done

# qemu_cmd ARCH sets cmd to the command that runs the ARCH binary of make
# cross under qemu on the oldest CPU of its kind.
qemu_cmd() {
	case $1 in
	arm64) cmd=(qemu-aarch64-static -cpu cortex-a53 dist/rivulet-linux-arm64) ;;
	armv7) cmd=(qemu-arm-static -cpu cortex-a7 dist/rivulet-linux-armv7) ;;
	armv6) cmd=(qemu-arm-static -cpu arm1176 dist/rivulet-linux-armv6) ;;
	esac
}
run_on() { # run_on ARCH ARGS...
	local cmd
	qemu_cmd "$1"
	shift
	timeout 120 "${cmd[@]}" "$@"
}
version_on() { run_on "$1" version | grep '^rivulet '; }
for arch in arm64 armv7 armv6; do
	check "$arch (qemu): rivulet version" version_on $arch
	check "$arch (qemu): validate testdata/site.yaml" run_on $arch validate --config testdata/site.yaml
	check "$arch (qemu): validate packaging/rivulet.yaml" run_on $arch validate --config packaging/rivulet.yaml
done
# The control that makes the ARMv6 checks mean something: the emulated
# ARM1176 does refuse ARMv7 code (SIGILL), so the armhf .deb carries armv6.
check "armv7 binary refused by an ARMv6 CPU (emulation is strict)" \
	bash -c '! timeout 60 qemu-arm-static -cpu arm1176 dist/rivulet-linux-armv7 version'

# free_port prints a loopback TCP port nobody listens on.
free_port() {
	local p hex
	while :; do
		p=$((20000 + RANDOM % 40000))
		printf -v hex ':%04X ' "$p"
		grep -qi "$hex" /proc/net/tcp /proc/net/tcp6 2>/dev/null || { echo "$p"; return; }
	done
}

# e2e ARCH: the agent under qemu with its embedded broker and a 1 s window;
# three QoS 1 readings from the native simulator must come out as window
# results whose counts add up to 3, and SIGTERM must end it with status 0.
e2e() {
	local arch=$1 d=$tmp/e2e-$1 port apid rc n cmd
	qemu_cmd "$arch"
	port=$(free_port)
	mkdir -p "$d"
	cat >"$d/config.yaml" <<EOF
site: e2e
data_dir: $d/data
http: {listen: ""}
embedded_broker: {enabled: true, listen: 127.0.0.1:$port}
sources:
  mqtt:
    - name: sensors
      broker: tcp://127.0.0.1:$port
      client_id: rivulet-e2e-$arch
      qos: 1
      topics:
        - {filter: greenhouse/+/+/temperature, format: value, measurement: temperature, field: value, tags: {zone: "{1}", sensor: "{2}"}}
pipeline:
  - name: temp_1s
    measurement: temperature
    window: {type: tumbling, size: 1s, max_delay: 0s, idle_timeout: 1s}
    group_by: [zone, sensor]
    aggregates: [count, mean, min, max]
    to: [local]
sinks:
  - {name: local, type: file, path: $d/results.lp}
EOF
	# timeout passes SIGTERM on to qemu, qemu to the agent.
	timeout 120 "${cmd[@]}" run --config "$d/config.yaml" >"$d/agent.log" 2>&1 &
	apid=$!
	bgpids+=("$apid")
	# Publish once the agent has subscribed: its session does not exist
	# before, and the embedded broker drops what nobody subscribed to.
	for _ in $(seq 300); do # 60 s
		grep -q "connected to broker" "$d/agent.log" 2>/dev/null && break
		kill -0 "$apid" 2>/dev/null || break
		sleep 0.2
	done
	if ! timeout 60 bin/rivulet simulate --broker "tcp://127.0.0.1:$port" --client-id "sim-$arch" \
		--count 3 --interval 200ms --zones 1 --sensors 1 >"$d/sim.log" 2>&1; then
		echo "simulate failed:"
		cat "$d/sim.log" "$d/agent.log"
		return 1
	fi
	n=0
	for _ in $(seq 300); do # 60 s
		n=$(grep -ho 'value_count=[0-9]*i' "$d/results.lp" 2>/dev/null | tr -dc '0-9\n' | awk '{s += $1} END {print s + 0}')
		[[ $n -ge 3 ]] && break
		kill -0 "$apid" 2>/dev/null || break
		sleep 0.2
	done
	kill -TERM "$apid" 2>/dev/null
	for _ in $(seq 150); do # 30 s to drain and exit
		kill -0 "$apid" 2>/dev/null || break
		sleep 0.2
	done
	if kill -0 "$apid" 2>/dev/null; then
		echo "still running 30 s after SIGTERM"
		kill -KILL "$apid"
	fi
	wait "$apid"
	rc=$?
	cat "$d/results.lp" 2>/dev/null
	if [[ $n != 3 || $rc != 0 ]]; then
		echo "window counts add up to $n (want 3), exit status $rc (want 0); agent log:"
		tail -20 "$d/agent.log"
		return 1
	fi
}
for arch in arm64 armv6; do
	check "$arch (qemu): end to end, 3 readings -> window results, SIGTERM -> exit 0" e2e "$arch"
done

# --- .deb ------------------------------------------------------------------
check "make deb (scripts/deb.sh)" timeout 600 scripts/deb.sh || summary
version=$(scripts/deb.sh --version)

# deb_ok ARCH QEMU...: contents, modes, control fields, and the packed
# binary runs (under QEMU... when given).
deb_ok() {
	local arch=$1 deb="dist/rivulet_${version}_$1.deb" c i
	shift
	c=$(dpkg-deb -c "$deb") || return 1
	i=$(dpkg-deb -I "$deb") || return 1
	local want=(
		'-rwxr-xr-x root/root .* ./usr/bin/rivulet$'
		'-rw-r--r-- root/root .* ./etc/rivulet/rivulet.yaml$'
		'-rw-r--r-- root/root .* ./lib/systemd/system/rivulet.service$'
		'drwx------ root/root .* ./var/lib/rivulet/$'
	)
	for w in "${want[@]}"; do
		grep -q -- "$w" <<<"$c" || { echo "contents: no line like $w"; echo "$c"; return 1; }
	done
	for w in ' Package: rivulet$' " Version: $version$" " Architecture: $arch$" ' Depends: adduser$' \
		' postinst ' ' prerm ' ' postrm ' ' conffiles '; do
		grep -q -- "$w" <<<"$i" || { echo "control: no line like '$w'"; echo "$i"; return 1; }
	done
	[[ $(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles) == /etc/rivulet/rivulet.yaml ]] ||
		{ echo "conffiles is not exactly /etc/rivulet/rivulet.yaml"; return 1; }
	dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/bin/rivulet >"$tmp/bin-$arch"
	chmod +x "$tmp/bin-$arch"
	timeout 60 "$@" "$tmp/bin-$arch" version | grep "^rivulet "
}
check "deb amd64: contents, control, binary" deb_ok amd64
check "deb arm64: contents, control, binary (qemu cortex-a53)" deb_ok arm64 qemu-aarch64-static -cpu cortex-a53
check "deb armhf: contents, control, ARMv6 binary (qemu arm1176)" deb_ok armhf qemu-arm-static -cpu arm1176

# dpkg -i / reinstall / purge of the amd64 package on this machine, where
# systemd is not running (postinst must cope). Not on a machine that has
# rivulet installed already or a rivulet user of its own.
deb_amd64="dist/rivulet_${version}_amd64.deb"
installed() {
	getent passwd rivulet | grep -q ':/var/lib/rivulet:' || { echo "no system user rivulet"; return 1; }
	[[ $(id -u rivulet) -lt 1000 ]] || { echo "rivulet is not a system user"; return 1; }
	[[ $(stat -c '%a %U:%G' /var/lib/rivulet) == "700 rivulet:rivulet" ]] ||
		{ echo "/var/lib/rivulet: $(stat -c '%a %U:%G' /var/lib/rivulet)"; return 1; }
	[[ -f /etc/rivulet/rivulet.yaml && -f /lib/systemd/system/rivulet.service ]] || return 1
	/usr/bin/rivulet version | grep "^rivulet " || return 1
	/usr/bin/rivulet validate --config /etc/rivulet/rivulet.yaml
}
kept_conffile() { # an edited config survives a reinstall
	echo "# edited by ci" >>/etc/rivulet/rivulet.yaml
	timeout 120 dpkg -i --force-confold "$deb_amd64" >/dev/null || return 1
	tail -1 /etc/rivulet/rivulet.yaml | grep -q '^# edited by ci$' && installed
}
purged() {
	local left=""
	for f in /usr/bin/rivulet /etc/rivulet /lib/systemd/system/rivulet.service /var/lib/rivulet /var/log/rivulet; do
		[[ -e $f ]] && left+=" $f"
	done
	getent passwd rivulet && left+=" user"
	getent group rivulet && left+=" group"
	dpkg-statoverride --list /var/lib/rivulet && left+=" statoverride"
	[[ -z $left ]] || { echo "left after purge:$left"; return 1; }
}
if dpkg -s rivulet >/dev/null 2>&1 || getent passwd rivulet >/dev/null; then
	skip "dpkg -i/--purge: rivulet (package or user) already present on this machine"
else
	check "dpkg -i $deb_amd64 (no systemd running)" timeout 120 dpkg -i "$deb_amd64" &&
		check "installed: system user, /var/lib/rivulet 0700, files, rivulet version, default config valid" installed
	check "dpkg -i again: idempotent, edited conffile kept" kept_conffile
	check "dpkg --purge rivulet" timeout 120 dpkg --purge rivulet
	check "purged: files, state, user, group, statoverride gone" purged
fi

# --- install.sh under a temporary root ---------------------------------------
install_sh() {
	local r=$tmp/root a b
	DESTDIR=$r sh scripts/install.sh --binary dist/rivulet-linux-amd64 || return 1
	a=$(cd "$r" && find . -printf '%M %p\n' | sort && find . -type f -exec md5sum {} + | sort)
	DESTDIR=$r sh scripts/install.sh --binary dist/rivulet-linux-amd64 || return 1
	b=$(cd "$r" && find . -printf '%M %p\n' | sort && find . -type f -exec md5sum {} + | sort)
	[[ $a == "$b" ]] || { echo "second run changed the tree:"; diff <(echo "$a") <(echo "$b"); return 1; }
	grep -q -- '-rwxr-xr-x ./usr/local/bin/rivulet$' <<<"$a" &&
		grep -q -- '-rw-r--r-- ./usr/local/lib/systemd/system/rivulet.service$' <<<"$a" &&
		grep -q -- '-rw-r--r-- ./etc/rivulet/rivulet.yaml$' <<<"$a" &&
		grep -q -- 'drwx------ ./var/lib/rivulet$' <<<"$a" || { echo "$a"; return 1; }
	grep -q '^ExecStart=/usr/local/bin/rivulet run ' "$r/usr/local/lib/systemd/system/rivulet.service" || return 1
	echo "# mine" >>"$r/etc/rivulet/rivulet.yaml"
	DESTDIR=$r sh scripts/install.sh --binary dist/rivulet-linux-amd64 || return 1
	tail -1 "$r/etc/rivulet/rivulet.yaml" | grep -q '^# mine$' || { echo "config overwritten"; return 1; }
	DESTDIR=$r sh scripts/install.sh --uninstall || return 1
	[[ ! -e $r/usr/local/bin/rivulet && ! -e $r/usr/local/lib/systemd/system/rivulet.service ]] ||
		{ echo "binary or unit left"; return 1; }
	[[ -f $r/etc/rivulet/rivulet.yaml && -d $r/var/lib/rivulet ]] || { echo "config or state removed"; return 1; }
	DESTDIR=$r sh scripts/install.sh --uninstall --purge || return 1
	[[ ! -e $r/etc/rivulet && ! -e $r/var/lib/rivulet ]] || { echo "purge left config or state"; return 1; }
}
check "install.sh (DESTDIR): install twice = same tree, config kept, uninstall, purge" install_sh

# --- the unit ----------------------------------------------------------------
check "check-unit.sh: systemd-analyze verify, exposure <= 2.5" scripts/check-unit.sh &&
	grep 'exposure' "$tmp/out" | sed 's/^/      /'
timeout 300 scripts/systemd-smoke.sh "$deb_amd64" bin/rivulet >"$tmp/smoke" 2>&1
rc=$?
sed 's/^/      /' "$tmp/smoke"
case $rc in
0) pass "systemd-smoke.sh: the .deb's unit under a real systemd" ;;
77) skip "systemd-smoke.sh: no namespaces for a private systemd here" ;;
*) fail "systemd-smoke.sh: the .deb's unit under a real systemd (status $rc)" ;;
esac

summary
