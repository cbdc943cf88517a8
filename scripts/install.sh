#!/bin/sh
# install.sh installs rivulet as a systemd service on a Linux system without
# dpkg (use the .deb where there is one). It is idempotent: running it twice
# leaves the same state, and it never overwrites an existing config.
#
#   binary  PREFIX/bin/rivulet                       (replaced)
#   unit    PREFIX/lib/systemd/system/rivulet.service (replaced)
#   config  /etc/rivulet/rivulet.yaml                (only if missing)
#   state   /var/lib/rivulet  0700 rivulet:rivulet
#   user    rivulet, a system user and group
#
# usage: scripts/install.sh [options]
#   --binary FILE  the binary to install (default: build bin/rivulet with
#                  make build, which needs Go)
#   --prefix DIR   where the binary and unit go (default /usr/local)
#   --root DIR     install under DIR instead of / (same as DESTDIR=DIR);
#                  the user is not created and nothing is chowned there
#   --uninstall    stop the service, remove binary and unit; keep config,
#                  data and user
#   --purge        with --uninstall: also remove /etc/rivulet,
#                  /var/lib/rivulet, /var/log/rivulet and the user
#
# It does not enable or start the service; it prints how to.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
binary=""
prefix=/usr/local
root=${DESTDIR:-}
action=install
purge=no
user=rivulet

die() {
	echo "install.sh: $*" >&2
	exit 1
}

while [ $# -gt 0 ]; do
	case $1 in
	--binary) binary=${2:?--binary needs a file}; shift 2 ;;
	--binary=*) binary=${1#*=}; shift ;;
	--prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
	--prefix=*) prefix=${1#*=}; shift ;;
	--root) root=${2:?--root needs a directory}; shift 2 ;;
	--root=*) root=${1#*=}; shift ;;
	--uninstall) action=uninstall; shift ;;
	--purge) purge=yes; shift ;;
	-h | --help) sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown option $1 (see --help)" ;;
	esac
done
[ "$purge" = yes ] && [ "$action" != uninstall ] && die "--purge goes with --uninstall"
case $prefix in /*) ;; *) die "--prefix must be absolute, got $prefix" ;; esac
root=${root%/}
if [ -n "$root" ]; then
	mkdir -p "$root"
	root=$(cd "$root" && pwd)
	[ "$root" = / ] && root=""
fi

bin_path=$prefix/bin/rivulet
unit_path=$prefix/lib/systemd/system/rivulet.service
conf_dir=/etc/rivulet
state_dir=/var/lib/rivulet
logs_dir=/var/log/rivulet

# on_host is true when installing into the running system: only then are
# users created, files chowned and systemd told.
on_host() { [ -z "$root" ]; }
systemd_running() { on_host && [ -d /run/systemd/system ]; }
say() { echo "install.sh: $*"; }

# put copies src to dst atomically (a running binary keeps its old inode)
# and only when the content differs, so a second run changes nothing.
put() {
	src=$1 dst=$root$2 mode=$3
	mkdir -p "$(dirname "$dst")"
	if [ -f "$dst" ] && cmp -s "$src" "$dst"; then
		chmod "$mode" "$dst"
		return 0
	fi
	cp "$src" "$dst.new.$$"
	chmod "$mode" "$dst.new.$$"
	mv -f "$dst.new.$$" "$dst"
	say "installed $2"
}

nologin() {
	for s in /usr/sbin/nologin /sbin/nologin /bin/false; do
		[ -x "$s" ] && { echo "$s"; return; }
	done
	echo /bin/false
}

create_user() {
	getent passwd "$user" >/dev/null 2>&1 && return 0
	if command -v useradd >/dev/null 2>&1; then
		if getent group "$user" >/dev/null 2>&1; then
			useradd --system --gid "$user" --home-dir "$state_dir" --no-create-home --shell "$(nologin)" "$user"
		else
			useradd --system --user-group --home-dir "$state_dir" --no-create-home --shell "$(nologin)" "$user"
		fi
	elif command -v adduser >/dev/null 2>&1 && adduser --help 2>&1 | grep -q -- --system; then
		adduser --quiet --system --group --home "$state_dir" --no-create-home "$user"
	elif command -v adduser >/dev/null 2>&1; then # busybox
		getent group "$user" >/dev/null 2>&1 || addgroup -S "$user"
		adduser -S -D -H -h "$state_dir" -s "$(nologin)" -G "$user" "$user"
	else
		die "no useradd or adduser to create user $user"
	fi
	say "created system user $user"
}

remove_user() {
	getent passwd "$user" >/dev/null 2>&1 || return 0
	if command -v userdel >/dev/null 2>&1; then
		userdel "$user"
	else
		deluser "$user"
	fi
	if getent group "$user" >/dev/null 2>&1; then
		if command -v groupdel >/dev/null 2>&1; then groupdel "$user"; else delgroup "$user"; fi
	fi
	say "removed user $user"
}

# unit_file writes the packaged unit with ExecStart pointing at bin_path.
unit_file() {
	sed "s|^ExecStart=/usr/bin/rivulet |ExecStart=$bin_path |" "$here/packaging/rivulet.service"
}

install_all() {
	if on_host && [ -f /var/lib/dpkg/info/rivulet.list ]; then
		die "rivulet is installed from a .deb here; upgrade it with dpkg/apt instead"
	fi
	if [ -z "$binary" ]; then
		command -v go >/dev/null 2>&1 || die "no --binary given and no Go to build one"
		say "building bin/rivulet"
		make -C "$here" --no-print-directory build >/dev/null
		binary=$here/bin/rivulet
	fi
	[ -f "$binary" ] || die "binary $binary not found"
	on_host && create_user

	put "$binary" "$bin_path" 0755
	tmp=$(mktemp)
	unit_file >"$tmp"
	put "$tmp" "$unit_path" 0644
	rm -f "$tmp"

	mkdir -p "$root$conf_dir"
	chmod 0755 "$root$conf_dir"
	if [ -e "$root$conf_dir/rivulet.yaml" ]; then
		say "kept existing $conf_dir/rivulet.yaml"
	else
		put "$here/packaging/rivulet.yaml" "$conf_dir/rivulet.yaml" 0644
	fi

	mkdir -p "$root$state_dir"
	chmod 0700 "$root$state_dir"
	on_host && chown "$user:$user" "$state_dir"

	if systemd_running; then
		systemctl daemon-reload
		if systemctl is-active --quiet rivulet.service; then
			systemctl restart rivulet.service
			say "restarted the running rivulet.service"
		fi
	fi
	say "done. Edit $conf_dir/rivulet.yaml, check it with"
	say "  $bin_path validate --config $conf_dir/rivulet.yaml"
	say "then: systemctl enable --now rivulet"
}

uninstall_all() {
	if systemd_running; then
		systemctl disable --now rivulet.service >/dev/null 2>&1 || true
	fi
	rm -f "$root/etc/systemd/system/multi-user.target.wants/rivulet.service"
	for f in "$bin_path" "$unit_path"; do
		if [ -e "$root$f" ]; then
			rm -f "$root$f"
			say "removed $f"
		fi
	done
	systemd_running && systemctl daemon-reload
	if [ "$purge" = yes ]; then
		rm -rf "$root$conf_dir" "$root$state_dir" "$root$logs_dir"
		say "removed $conf_dir $state_dir $logs_dir"
		on_host && remove_user
	else
		say "kept $conf_dir, $state_dir and user $user (--purge removes them)"
	fi
	return 0
}

if on_host && [ "$(id -u)" != 0 ]; then
	die "run as root (or give --root DIR to install elsewhere)"
fi
case $action in
install) install_all ;;
uninstall) uninstall_all ;;
esac
