# Sourced by the scripts in scripts/: installs the Debian packages loopcheck needs.
# Each package is checked first, so a machine that has them all pays ~0.1 s and no apt call.

# g++ brings the gcc sanitizer runtimes (libasan8, libubsan1, libtsan2) for the asan and tsan
# presets; clang-14 plus libclang-rt-14-dev (libFuzzer and clang's sanitizer runtimes) build
# the fuzz preset; llvm-14 has llvm-cov/llvm-profdata, and llvm puts llvm-symbolizer on PATH,
# which the sanitizers look for to print file:line in their reports.
LOOPCHECK_PACKAGES=(
  cmake ninja-build g++ pkg-config
  clang-14 libclang-rt-14-dev llvm-14 llvm
  libgtest-dev libgmock-dev librapidcheck-dev nlohmann-json3-dev libbenchmark-dev libuv1-dev
  python3 python3-uvloop
  lcov gcovr zip
)

loopcheck_missing_packages() {
  local p
  for p in "${LOOPCHECK_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
  done
}

# ensure_packages: install what is missing, or say exactly what is missing and fail.
ensure_packages() {
  local missing
  missing=$(loopcheck_missing_packages | tr '\n' ' ')
  [ -z "${missing// /}" ] && return 0
  if [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null; then
    echo "loopcheck: missing Debian packages: $missing" >&2
    echo "loopcheck: install them as root: apt-get install -y $missing" >&2
    return 1
  fi
  local SUDO=""
  [ "$(id -u)" != 0 ] && SUDO=sudo
  echo "loopcheck: installing missing packages: $missing" >&2
  $SUDO apt-get update -qq >&2 || return 1
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends $missing >&2 || return 1
}

# build_preset NAME: configure (once) and build the given CMake preset.
build_preset() {
  local preset=$1 top
  top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  (cd "$top" && cmake --preset "$preset" >/dev/null && cmake --build --preset "$preset") || {
    echo "loopcheck: build of preset '$preset' failed" >&2
    return 1
  }
}
