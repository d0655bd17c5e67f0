#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages mnist-train needs to build and test,
# only those missing; as root directly, else through sudo.
#   bash deps.sh        build + `make check` (cmocka, python3, numpy, pngcheck, clang for the fuzzers)
#   bash deps.sh --ci   also what the optional cross-checks use, so none of them skips
set -euo pipefail
pkgs="build-essential pkg-config zlib1g-dev libdeflate-dev libpng-dev libcjson-dev libcurl4-openssl-dev ca-certificates
      libcmocka-dev python3 python3-numpy pngcheck clang"
[ "${1:-}" = "--ci" ] && pkgs="$pkgs dataset-fashion-mnist"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps.sh: installing$missing"
run=""
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "deps.sh: not root and no sudo: install$missing yourself" >&2; exit 1; }
    run=sudo
fi
$run apt-get update -qq
DEBIAN_FRONTEND=noninteractive $run apt-get install -y -qq --no-install-recommends $missing
