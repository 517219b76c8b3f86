#!/bin/sh
# Install the Debian packages kidguard needs to build, test and benchmark. Idempotent: packages
# already present are not touched, and apt is not called at all when nothing is missing.
set -eu

BUILD="build-essential cmake pkg-config clang clang-format libldns-dev libuv1-dev liblmdb-dev
 libcurl4-openssl-dev libcjson-dev libinih-dev libmicrohttpd-dev libssl-dev libcmocka-dev
 zlib1g-dev libzstd-dev libidn2-dev"
TEST="unbound nsd dnsperf knot-dnsutils bind9-dnsutils python3 python3-dnspython lmdb-utils
 xz-utils procps iproute2
 debhelper dpkg-dev fakeroot lintian systemd groff-base util-linux
 curl prometheus chromium nodejs"
# The dashboard test installs playwright-core with npm (outside the repository). NodeSource's
# nodejs ships its own npm and conflicts with Debian's npm package: ask for it only if missing.
command -v npm >/dev/null 2>&1 || TEST="$TEST npm"

want="$BUILD"
[ "${1:-}" = "--build-only" ] || want="$want $TEST"

missing=""
for p in $want; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
# Debian starts the daemons it installs; the tests start their own on loopback instead.
for svc in unbound nsd; do
	$SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true
done
