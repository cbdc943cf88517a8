#!/usr/bin/env bash
# deb.sh builds the rivulet .deb packages from the binaries of `make cross`:
#
#   dist/rivulet_<version>_amd64.deb   from dist/rivulet-linux-amd64
#   dist/rivulet_<version>_arm64.deb   from dist/rivulet-linux-arm64
#   dist/rivulet_<version>_armhf.deb   from dist/rivulet-linux-armv6
#
# The armhf package carries the ARMv6 binary on purpose: Raspberry Pi OS's
# armhf userland runs on the ARMv6 Pi Zero / Zero W / 1 as well as on ARMv7
# and ARMv8 boards in 32-bit mode, and Go's GOARM=6 binary runs on all of
# them (it uses VFP, no NEON, no ARMv7-only instructions). One armhf package
# therefore installs on every Pi; the GOARM=7 binary stays in dist/ for
# tarball installs (scripts/install.sh) on ARMv7-only fleets.
#
# The packager is nfpm, run at a pinned version through the Go module proxy
# (go install pkg@version does not touch go.mod). Newer nfpm releases depend
# on modules the proxy does not serve here, hence the pin.
#
# usage: scripts/deb.sh                 build all three into dist/
#        scripts/deb.sh --version       print the Debian version and exit
# env:   DEB_VERSION     override the version
#        DEB_ARCHES      subset, e.g. "amd64 armhf"
#        DEB_MAINTAINER  "Name <email>"
#        DIST            output directory (dist)
set -euo pipefail
cd "$(dirname "$0")/.."

NFPM_VERSION=v2.45.2
NFPM=bin/tools/nfpm-$NFPM_VERSION
DIST=${DIST:-dist}

# deb_version turns `git describe` into a Debian version that sorts right:
#   v1.4.0            -> 1.4.0
#   v1.4.0-rc1        -> 1.4.0~rc1           (before 1.4.0)
#   v1.4.0, 7 commits -> 1.4.0+git7.g1a2b3c4
#   no tag            -> 0.0.0+git<commits>.g<hash>
# and appends .dirty for a tree with uncommitted changes.
deb_version() {
	local tag n hash dirty="" v
	hash=$(git rev-parse --short HEAD 2>/dev/null) || { echo 0.0.0+unknown; return; }
	if [[ $(git describe --always --dirty 2>/dev/null) == *-dirty ]]; then
		dirty=.dirty
	fi
	if tag=$(git describe --tags --match 'v[0-9]*' --abbrev=0 2>/dev/null); then
		n=$(git rev-list --count "$tag..HEAD")
		v=${tag#v}
		v=${v//-/\~}
	else
		n=$(git rev-list --count HEAD)
		v=0.0.0
		[[ $n == 0 ]] && n=1
	fi
	if [[ $n != 0 ]]; then
		v="$v+git$n.g$hash"
	fi
	echo "$v$dirty"
}

# binary_for maps a Debian architecture to the make cross output it packs.
binary_for() {
	case $1 in
	amd64) echo "$DIST/rivulet-linux-amd64" ;;
	arm64) echo "$DIST/rivulet-linux-arm64" ;;
	armhf) echo "$DIST/rivulet-linux-armv6" ;;
	*) echo "deb.sh: unknown architecture $1" >&2; return 1 ;;
	esac
}

version=${DEB_VERSION:-$(deb_version)}
if [[ ${1:-} == --version ]]; then
	echo "$version"
	exit 0
fi

if [[ ! -x $NFPM ]]; then
	echo "deb.sh: installing nfpm $NFPM_VERSION into bin/tools"
	mkdir -p bin/tools
	GOBIN="$PWD/bin/tools" go install "github.com/goreleaser/nfpm/v2/cmd/nfpm@$NFPM_VERSION"
	mv bin/tools/nfpm "$NFPM"
fi

export DEB_VERSION=$version
export DEB_MAINTAINER=${DEB_MAINTAINER:-rivulet maintainers <maintainers@rivulet-edge.invalid>}
for arch in ${DEB_ARCHES:-amd64 arm64 armhf}; do
	bin=$(binary_for "$arch")
	if [[ ! -f $bin ]]; then
		echo "deb.sh: $bin is missing; run make cross first" >&2
		exit 1
	fi
	out="$DIST/rivulet_${version}_${arch}.deb"
	rm -f "$DIST"/rivulet_*_"$arch".deb # one version in dist/
	DEB_ARCH=$arch DEB_BINARY=$bin "$NFPM" package --config packaging/nfpm.yaml \
		--packager deb --target "$out" >/dev/null
	echo "$out ($(stat -c %s "$out") bytes, from $bin)"
done
