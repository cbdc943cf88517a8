#!/usr/bin/env bash
# systemd-smoke.sh runs the packaged unit under a real systemd: it boots
# systemd as PID 1 of a private PID and mount namespace whose root is a
# throwaway overlay of / (every write lands in a tmpfs and vanishes), installs
# the amd64 .deb there with dpkg while systemd runs, then starts rivulet.service
# exactly as shipped (Type=notify, watchdog, every sandbox setting) against
# the embedded broker, publishes a few readings, and checks that a window
# result arrives, the agent runs as user rivulet, the watchdog is fed,
# `systemctl reload` reloads in place, `systemctl stop` exits cleanly and
# purging the package with systemd running works.
#
# Only two things differ from a real machine, through files in the overlay:
# the smoke config replaces /etc/rivulet/rivulet.yaml, and a drop-in sets
# DefaultDependencies=no (so booting the one target pulls in nothing of the
# host: no udev, sysctl, tmpfiles or network setup; those units are masked
# too), a 4 s watchdog (exercised quickly) and a 30 s stop timeout.
#
# It needs root with CAP_SYS_ADMIN (unshare, overlay mounts), as in CI; it
# exits 77 (skip) when the namespace or the boot is not possible here.
#
# usage: scripts/systemd-smoke.sh [DEB] [NATIVE_BINARY]
#   defaults: dist/rivulet_*_amd64.deb, bin/rivulet (for `rivulet simulate`)
set -euo pipefail
cd "$(dirname "$0")/.."

deb=${1:-$(ls -t dist/rivulet_*_amd64.deb 2>/dev/null | head -1)}
native=${2:-bin/rivulet}
[[ -f $deb ]] || { echo "systemd-smoke: no .deb (make deb)" >&2; exit 1; }
[[ -x $native ]] || { echo "systemd-smoke: no $native (make build)" >&2; exit 1; }
for c in unshare nsenter pivot_root; do
	command -v $c >/dev/null || { echo "systemd-smoke: SKIP: no $c"; exit 77; }
done
[[ -x /lib/systemd/systemd ]] || { echo "systemd-smoke: SKIP: systemd not installed"; exit 77; }

work=$(mktemp -d /var/tmp/rivulet-systemd.XXXXXX)
upid="" pid1="" simpid=""
cgroups_before=$(find /sys/fs/cgroup -mindepth 2 -type d 2>/dev/null | sort)

cleanup() {
	local rc=$?
	set +e
	[[ -n $simpid ]] && kill "$simpid" 2>/dev/null
	[[ -n $pid1 ]] && kill -KILL "$pid1" 2>/dev/null # takes the whole PID namespace
	[[ -n $upid ]] && wait "$upid" 2>/dev/null
	# systemd made cgroups for its units in the shared hierarchy; remove the
	# ones it left (all empty now), deepest first.
	comm -13 <(echo "$cgroups_before") <(find /sys/fs/cgroup -mindepth 2 -type d 2>/dev/null | sort) |
		sort -r | while read -r d; do rmdir "$d" 2>/dev/null || true; done
	rm -rf "$work"
	exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM

failed=0
t0=$SECONDS
check() { # check NAME COMMAND...: runs COMMAND, prints PASS/FAIL; 1 if failed
	local name=$1
	shift
	if "$@" >"$work/out" 2>&1; then
		echo "PASS  systemd: $name ($((SECONDS - t0))s)"
		return 0
	fi
	echo "FAIL  systemd: $name"
	sed 's/^/      /' "$work/out" | tail -20
	ns journalctl -u rivulet --no-pager -n 15 2>/dev/null | sed 's/^/      /'
	failed=1
	return 1
}
# must is check for steps the rest depends on: on failure it stops.
must() { check "$@" || exit 1; }
# ns runs a command inside the booted namespace, chrooted into the overlay.
ns() { nsenter --target "$pid1" --mount --pid --root --wd -- "$@"; }

free_port() {
	local p hex
	while :; do
		p=$((20000 + RANDOM % 40000))
		printf -v hex ':%04X ' "$p"
		grep -qi "$hex" /proc/net/tcp /proc/net/tcp6 2>/dev/null || { echo "$p"; return; }
	done
}
port=$(free_port)

# boot: prepare the overlay, then exec systemd as PID 1 of the namespace.
cp "$deb" "$work/rivulet.deb"
mkdir "$work/ns"
cat >"$work/boot.sh" <<'EOF'
set -e
w=$1/ns port=$2
mount -t tmpfs -o mode=0755 tmpfs "$w"
mkdir "$w/upper" "$w/work" "$w/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$w/upper,workdir=$w/work" "$w/root"
r=$w/root
cp "$1/rivulet.deb" "$r/var/tmp/rivulet.deb"
etc=$r/etc/systemd/system
for u in systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket \
	systemd-udev-trigger.service systemd-udev-settle.service systemd-sysctl.service \
	systemd-modules-load.service systemd-binfmt.service proc-sys-fs-binfmt_misc.automount \
	proc-sys-fs-binfmt_misc.mount systemd-tmpfiles-setup.service systemd-tmpfiles-setup-dev.service \
	systemd-tmpfiles-clean.timer systemd-random-seed.service systemd-update-utmp.service \
	systemd-timesyncd.service systemd-pstore.service systemd-remount-fs.service \
	systemd-journal-flush.service sys-kernel-debug.mount sys-kernel-tracing.mount \
	sys-kernel-config.mount sys-fs-fuse-connections.mount dev-hugepages.mount dev-mqueue.mount \
	network-online.target networking.service systemd-networkd.service NetworkManager.service \
	ifupdown-wait-online.service systemd-networkd-wait-online.service \
	mosquitto.service influxdb.service postgresql.service avahi-daemon.service avahi-daemon.socket; do
	ln -sf /dev/null "$etc/$u"
done
printf '[Unit]\nDescription=rivulet smoke\nDefaultDependencies=no\nWants=systemd-journald.socket\n' \
	>"$etc/rivulet-smoke.target"
mkdir -p "$etc/rivulet.service.d"
printf '[Unit]\nDefaultDependencies=no\n[Service]\nWatchdogSec=4s\nTimeoutStopSec=30s\n' >"$etc/rivulet.service.d/smoke.conf"
cat >"$r/var/tmp/smoke.yaml" <<YAML
site: smoke
data_dir: /var/lib/rivulet
http: {listen: ""}
embedded_broker: {enabled: true, listen: 127.0.0.1:$port}
sources:
  mqtt:
    - name: sensors
      broker: tcp://127.0.0.1:$port
      client_id: rivulet-systemd-smoke
      qos: 1
      topics:
        - {filter: greenhouse/+/+/temperature, format: value, measurement: temperature, field: value, tags: {zone: "{1}", sensor: "{2}"}}
pipeline:
  - name: temp_1s
    measurement: temperature
    window: {type: tumbling, size: 1s, max_delay: 0s, idle_timeout: 1s}
    group_by: [zone, sensor]
    aggregates: [count, mean]
    to: [local]
sinks:
  - {name: local, type: file, path: /var/lib/rivulet/results.lp}
YAML
# pivot_root, not chroot: in a chroot the kernel refuses new user namespaces.
mkdir -p "$r/.oldroot"
cd "$r"
pivot_root . .oldroot
mount -t proc proc /proc
umount -l /.oldroot
exec /lib/systemd/systemd --system --unit=rivulet-smoke.target --show-status=no
EOF
setsid unshare --mount --pid --fork --uts --ipc --propagation private \
	bash "$work/boot.sh" "$work" "$port" >"$work/boot.log" 2>&1 </dev/null &
upid=$!
for _ in $(seq 100); do
	pid1=$(cat "/proc/$upid/task/$upid/children" 2>/dev/null | awk '{print $1}')
	[[ -n $pid1 ]] && break
	sleep 0.1
done
state=""
for _ in $(seq 150); do
	[[ -n $pid1 ]] && state=$(ns systemctl is-system-running 2>/dev/null) || true
	[[ $state == running || $state == degraded ]] && break
	sleep 0.2
done
if [[ $state != running && $state != degraded ]]; then
	echo "SKIP  systemd: could not boot systemd in a namespace here (state '${state:-none}')"
	tail -5 "$work/boot.log" 2>/dev/null | sed 's/^/      /'
	exit 77
fi
echo "PASS  systemd: booted $(ns systemctl --version | head -1) in a private namespace"

prop() { ns systemctl show -p "$1" --value rivulet.service; }
must "dpkg -i with systemd running" ns dpkg -i /var/tmp/rivulet.deb
must "unit loaded after postinst's daemon-reload" test "$(prop LoadState)" = loaded
ns cp /var/tmp/smoke.yaml /etc/rivulet/rivulet.yaml
must "systemctl start returns after READY=1" ns timeout 60 systemctl start rivulet.service
must "active (running)" test "$(prop ActiveState)/$(prop SubState)" = active/running
mainpid=$(prop MainPID)
uid=$(ns awk '/^Uid:/ {print $2}' "/proc/$mainpid/status" 2>/dev/null || true)
check "runs as user rivulet" test "$uid" = "$(ns id -u rivulet)" || true
check "state dir 0700 rivulet" test "$(ns stat -c '%a %U' /var/lib/rivulet)" = "700 rivulet" || true

"$native" simulate --broker "tcp://127.0.0.1:$port" --count 3 --interval 200ms --zones 1 --sensors 1 \
	>"$work/sim.log" 2>&1 &
simpid=$!
result() {
	for _ in $(seq 300); do
		ns grep -q '^temp_1s,' /var/lib/rivulet/results.lp 2>/dev/null && return 0
		sleep 0.2
	done
	echo "no window result in 60 s"
	return 1
}
must "window result in the file sink" result
wait "$simpid" || true
simpid=""

sleep 5 # longer than WatchdogSec=4s: a missing ping would have killed it
check "watchdog fed (alive past WatchdogSec, pinged)" test "$(prop ActiveState)/$(prop NRestarts)" = active/0 || true
check "watchdog timestamp set" test -n "$(prop WatchdogTimestampMonotonic | grep -v '^0$')" || true
# systemd logs every sd_notify message at debug level; the reload must be
# announced as RELOADING=1 ... READY=1 and never as STOPPING=1, which makes
# systemd treat the service as stopping (and SIGKILL it after
# TimeoutStopSec) depending on how the messages race the reload job.
ns systemd-analyze log-level debug
check "systemctl reload (SIGHUP) reloads in place" ns timeout 60 systemctl reload rivulet.service || true
# ExecReload only sends SIGHUP, so `systemctl reload` returns at once; the
# agent then reports RELOADING=1 and READY=1 when it runs the new config.
reloaded() {
	for _ in $(seq 50); do
		[[ $(prop MainPID)/$(prop ActiveState) == "$mainpid/active" ]] && return 0
		sleep 0.2
	done
	echo "MainPID/ActiveState: $(prop MainPID)/$(prop ActiveState), was $mainpid/active"
	return 1
}
check "same process after reload, active again" reloaded || true
notifications() { ns journalctl _PID=1 --no-pager -o cat | grep "Got notification message from PID $mainpid" | grep -v "(WATCHDOG=1)$" || true; }
no_stopping_on_reload() {
	local n
	n=$(notifications)
	echo "$n"
	grep -q 'RELOADING=1' <<<"$n" && ! grep -q 'STOPPING=1' <<<"$n"
}
check "reload notifies RELOADING=1 and READY=1, not STOPPING=1" no_stopping_on_reload || true
ns systemd-analyze log-level info
must "systemctl stop drains and exits 0" ns timeout 60 systemctl stop rivulet.service
check "exit status 0, result success" test "$(prop ExecMainStatus)/$(prop Result)" = 0/success || true
check "no sandbox denials in the journal" \
	bash -c "! nsenter --target $pid1 --mount --pid --root --wd -- journalctl -u rivulet --no-pager | grep -iE 'operation not permitted|permission denied|read-only file system|bad system call'" || true
check "dpkg --purge with systemd running" ns dpkg --purge rivulet || true
check "user and data gone after purge" bash -c "! nsenter --target $pid1 --mount --pid --root --wd -- id rivulet && ! nsenter --target $pid1 --mount --pid --root --wd -- test -e /var/lib/rivulet" || true
exit $failed
