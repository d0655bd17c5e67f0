#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages mnist-train needs to build and test,
# only those missing; as root directly, else through sudo.
#   bash deps.sh        build + `make check` (cmocka, python3, numpy, pngcheck, clang for the fuzzers)
#   bash deps.sh --ci   also what the optional cross-checks use, so none of them skips
#                       (and the test-only npm packages in tests/js: onnxruntime-node, puppeteer-core)
set -euo pipefail
pkgs="build-essential pkg-config zlib1g-dev libdeflate-dev libpng-dev libcjson-dev libcurl4-openssl-dev ca-certificates
      libjpeg-dev libprotobuf-c-dev protobuf-c-compiler libcmocka-dev python3 python3-numpy pngcheck clang"
[ "${1:-}" = "--ci" ] && pkgs="$pkgs dataset-fashion-mnist python3-onnx nodejs chromium libclang-rt-14-dev bc"
# Debian's npm is its own package; a nodejs from elsewhere (NodeSource) brings its own npm
[ "${1:-}" = "--ci" ] && ! command -v npm >/dev/null && pkgs="$pkgs npm"
# onnxruntime-node's install script would try to download CUDA binaries; the CPU ones ship in the package
npm_js() {
    [ "${1:-}" = "--ci" ] && [ ! -d "$(dirname "$0")/tests/js/node_modules" ] || return 0
    echo "deps.sh: npm ci --prefix tests/js"
    ONNXRUNTIME_NODE_INSTALL_CUDA=skip npm ci --prefix "$(dirname "$0")/tests/js" --no-audit --no-fund
}
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && { npm_js "${1:-}"; exit 0; }
echo "deps.sh: installing$missing"
run=""
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "deps.sh: not root and no sudo: install$missing yourself" >&2; exit 1; }
    run=sudo
fi
$run apt-get update -qq
DEBIAN_FRONTEND=noninteractive $run apt-get install -y -qq --no-install-recommends $missing
npm_js "${1:-}"
