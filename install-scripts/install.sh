#!/bin/sh
# Installs proxyd from this checkout on Linux or macOS and runs it as a service:
# checks Node.js, builds, installs the package with npm (proxyd and proxyctl on PATH), then
# `proxyctl service install`. Run it again to upgrade in place (the service restarts).
set -eu

usage() {
  cat <<'EOF'
usage: install-scripts/install.sh [--prefix DIR] [--user | --system] [--config FILE] [--no-service] [--no-build]
       install-scripts/install.sh --uninstall [--prefix DIR] [--user | --system] [--no-service]

  --prefix DIR   where npm installs the package: DIR/bin/proxyd and DIR/bin/proxyctl
                 (default: /usr/local as root, else ~/.local)
  --user         your own service (the default unless you are root)
  --system       the system service (the default as root)
  --config FILE  the service runs with this config, where it is (default: its own, written once)
  --no-service   install the package only
  --no-build     package the dist/ already built (skip npm ci and npm run build)
  --uninstall    proxyctl service uninstall, then npm uninstall (use the same --prefix)
EOF
}

die() {
  echo "install.sh: $*" >&2
  exit 1
}

# npm keeps the modes of the package's files: the system service's account must read them
umask 022

ARGS="$*"
PREFIX=
SCOPE=
CONFIG=
SERVICE=yes
BUILD=yes
UNINSTALL=no
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; PREFIX=$2; shift ;;
    --user | --system) SCOPE=$1 ;;
    --config) [ $# -ge 2 ] || die "--config needs a file"; CONFIG=$2; shift ;;
    --no-service) SERVICE=no ;;
    --no-build) BUILD=no ;;
    --uninstall) UNINSTALL=yes ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option $1" ;;
  esac
  shift
done

if [ "$SCOPE" = --system ] && [ "$(id -u)" != 0 ]; then
  die "--system needs root: sudo $0 $ARGS"
fi
if [ -z "$PREFIX" ]; then
  if [ "$(id -u)" = 0 ]; then PREFIX=/usr/local; else PREFIX="$HOME/.local"; fi
fi
[ "$UNINSTALL" = yes ] || mkdir -p "$PREFIX"
[ ! -d "$PREFIX" ] || PREFIX=$(cd "$PREFIX" && pwd)
if [ -n "$CONFIG" ]; then
  [ -f "$CONFIG" ] || die "--config $CONFIG: no such file"
  CONFIG="$(cd "$(dirname "$CONFIG")" && pwd)/$(basename "$CONFIG")"
fi
PROXYCTL="$PREFIX/bin/proxyctl"

if [ "$UNINSTALL" = yes ]; then
  if [ "$SERVICE" = yes ] && [ -x "$PROXYCTL" ]; then
    "$PROXYCTL" service uninstall $SCOPE
  fi
  npm uninstall --global --prefix "$PREFIX" proxyd
  echo "proxyd is uninstalled from $PREFIX"
  exit 0
fi

if ! command -v node >/dev/null 2>&1; then
  # sudo resets PATH: a node of your own (nvm) is not on root's
  [ "$(id -u)" != 0 ] || [ -z "${SUDO_USER:-}" ] || echo "install.sh: with sudo, PATH is root's: sudo env PATH=\"\$PATH\" $0 ..." >&2
  die "Node.js 20.19 or newer is needed and was not found: install it (https://nodejs.org, or your package manager), then run this again"
fi
node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' ||
  die "Node.js $(node --version) is too old: proxyd needs 20.19 or newer"
command -v npm >/dev/null 2>&1 || die "npm was not found (it comes with Node.js)"

cd "$(dirname "$0")/.."
if [ "$BUILD" = yes ]; then
  npm ci --no-audit --no-fund
  npm run build
fi
[ -f dist/proxyd.js ] || die "dist/ is not built: run without --no-build"

PACK=$(mktemp -d)
trap 'rm -rf "$PACK"' EXIT
npm pack --pack-destination "$PACK" --loglevel=warn >/dev/null
npm install --global --prefix "$PREFIX" --no-audit --no-fund "$PACK"/proxyd-*.tgz
echo "installed proxyd and proxyctl in $PREFIX/bin"
case ":$PATH:" in
  *":$PREFIX/bin:"*) ;;
  *) echo "note: $PREFIX/bin is not on your PATH; add it: export PATH=\"$PREFIX/bin:\$PATH\"" ;;
esac

if [ "$SERVICE" = yes ]; then
  if [ -n "$CONFIG" ]; then
    "$PROXYCTL" service install $SCOPE --config "$CONFIG"
  else
    "$PROXYCTL" service install $SCOPE
  fi
fi
