#!/bin/sh
# Install the Debian packages kidguard needs to build, test and benchmark. Idempotent: packages
# already present are not touched, and apt is not called at all when nothing is missing.
set -eu

BUILD="build-essential cmake pkg-config clang clang-format libldns-dev libuv1-dev liblmdb-dev
 libcurl4-openssl-dev libcjson-dev libinih-dev libmicrohttpd-dev libssl-dev libcmocka-dev
 zlib1g-dev libzstd-dev libidn2-dev libnghttp2-dev libpsl-dev publicsuffix liblinear-dev
 gettext"
TEST="unbound nsd dnsperf knot-dnsutils bind9-dnsutils python3 python3-dnspython lmdb-utils
 xz-utils procps iproute2
 debhelper dpkg-dev fakeroot lintian systemd groff-base util-linux
 curl prometheus chromium nodejs dnsdist"
# The dashboard test installs playwright-core with npm (outside the repository). NodeSource's
# nodejs ships its own npm and conflicts with Debian's npm package: ask for it only if missing.
command -v npm >/dev/null 2>&1 || TEST="$TEST npm"
# tests/bench/run (--bench): the peers it measures side by side, the file watcher Knot Resolver
# needs to reload an RPZ, the plotter, and the profilers used for docs/performance.md.
BENCH="dnsperf unbound dnsmasq-base pdns-recursor knot-resolver lua-cqueues gnuplot-nox
 linux-perf valgrind ltrace python3 python3-dnspython xz-utils procps"

want="$BUILD"
case "${1:-}" in
--build-only) ;;
--bench) want="$want $BENCH" ;;
*) want="$want $TEST" ;;
esac

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
for svc in unbound nsd pdns-recursor kresd@1 dnsmasq dnsdist; do
	$SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true
done
