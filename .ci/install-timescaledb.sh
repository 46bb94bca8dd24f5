#!/usr/bin/env bash
# Make the TimescaleDB extension (Apache edition) available to PostgreSQL 15.
#
# Bookworm has no TimescaleDB package, so this builds Debian 13 "trixie"'s
# `timescaledb` source package (2.19.3) against PostgreSQL 15. The trixie
# deb-src entry lives in a PRIVATE sources/lists/cache directory: the system's
# apt configuration and caches are left untouched.
#
# Idempotent: exits at once when the extension is already installed.
# Set TIMESCALEDB_FORCE_BUILD=1 to rebuild anyway.
set -euo pipefail

PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
SUITE=${TIMESCALEDB_SUITE:-trixie}
MIRROR=${TIMESCALEDB_MIRROR:-http://deb.debian.org/debian}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
BUILD_DEPS=(postgresql-server-dev-15 cmake gcc make libc6-dev libssl-dev
            dpkg-dev xz-utils debian-archive-keyring)

export DEBIAN_FRONTEND=noninteractive
log() { echo "install-timescaledb: $*"; }
die() { echo "install-timescaledb: ERROR: $*" >&2; exit 1; }

# --- fast path -------------------------------------------------------------
installed_version() {
    # Prints the installed default version if control file, loader and the
    # versioned library are all in PG15's directories; fails otherwise.
    [[ -x $PG_CONFIG ]] || return 1
    local share lib control ver
    share=$("$PG_CONFIG" --sharedir) lib=$("$PG_CONFIG" --pkglibdir)
    control=$share/extension/timescaledb.control
    [[ -f $control && -f $lib/timescaledb.so ]] || return 1
    ver=$(sed -n "s/^default_version *= *'\(.*\)'.*/\1/p" "$control")
    [[ -n $ver && -f $lib/timescaledb-$ver.so ]] || return 1
    echo "$ver"
}

if [[ ${TIMESCALEDB_FORCE_BUILD:-0} != 1 ]] && ver=$(installed_version); then
    log "TimescaleDB $ver already installed for PostgreSQL 15, nothing to do"
    exit 0
fi

[[ $(id -u) == 0 ]] || die "must run as root (installs packages and files under /usr)"
start=$(date +%s)

# --- build dependencies from bookworm (normal apt) -------------------------
missing=()
for p in "${BUILD_DEPS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
        || missing+=("$p")
done
if ((${#missing[@]})); then
    log "installing build dependencies: ${missing[*]}"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    log "build dependencies already installed"
fi
[[ -x $PG_CONFIG ]] || die "$PG_CONFIG not found (is postgresql-15 installed?)"

# --- fetch the trixie source package through a private apt state -----------
work=$(mktemp -d "${TMPDIR:-/tmp}/timescaledb-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/apt/sources.list.d" "$work/apt/lists/partial" \
         "$work/apt/cache/archives/partial" "$work/src"
cat >"$work/apt/sources.list.d/timescaledb-src.sources" <<EOF
Types: deb-src
URIs: $MIRROR
Suites: $SUITE
Components: main
Signed-By: $KEYRING
EOF
APT_OPTS=(
    -o "Dir::Etc::SourceList=/dev/null"
    -o "Dir::Etc::SourceParts=$work/apt/sources.list.d"
    -o "Dir::State::Lists=$work/apt/lists"
    -o "Dir::Cache=$work/apt/cache"
    -o "APT::Sandbox::User=root"   # private temp dirs are not readable by _apt
)
log "fetching the $SUITE source index (private apt lists in $work/apt)"
apt-get "${APT_OPTS[@]}" update -qq \
    || die "apt-get update of $SUITE deb-src failed (does $KEYRING hold the $SUITE keys?)"
src_ver=$(apt-cache "${APT_OPTS[@]}" showsrc timescaledb 2>/dev/null \
          | sed -n 's/^Version: //p' | head -n1)
[[ -n $src_ver ]] || die "no timescaledb source package found in $SUITE"
log "downloading timescaledb $src_ver source from $SUITE"
(cd "$work/src" && apt-get "${APT_OPTS[@]}" source --download-only -qq "timescaledb=$src_ver") \
    || die "apt-get source timescaledb failed"
# apt already checked the files against the signed Sources index.
dsc=$(ls "$work"/src/timescaledb_*.dsc)
dpkg-source --no-check -x "$dsc" "$work/src/timescaledb" >/dev/null \
    || die "dpkg-source -x $dsc failed"

# --- configure, build, install ------------------------------------------------
# Flags follow debian/rules (Apache-only, telemetry not sent by default) but keep
# the telemetry code compiled in so that the `timescaledb.telemetry_level` GUC
# exists and can be set to off explicitly; tests are not built.
cd "$work/src/timescaledb"
log "configuring (cmake via ./bootstrap, PG_CONFIG=$PG_CONFIG)"
BUILD_DIR=build BUILD_FORCE_REMOVE=true ./bootstrap \
    -DCMAKE_BUILD_TYPE=Release \
    -DPG_CONFIG="$PG_CONFIG" \
    -DAPACHE_ONLY=ON \
    -DSEND_TELEMETRY_DEFAULT=OFF \
    -DREGRESS_CHECKS=OFF \
    -DTAP_CHECKS=OFF \
    -DWARNINGS_AS_ERRORS=OFF >"$work/configure.log" 2>&1 \
    || { tail -n 40 "$work/configure.log" >&2; die "configure failed"; }
log "building with $(nproc) jobs"
make -C build -j"$(nproc)" >"$work/build.log" 2>&1 \
    || { tail -n 40 "$work/build.log" >&2; die "build failed"; }
log "installing"
make -C build install >"$work/install.log" 2>&1 \
    || { tail -n 40 "$work/install.log" >&2; die "make install failed"; }

ver=$(installed_version) || die "installed files not found in $("$PG_CONFIG" --pkglibdir)"
log "TimescaleDB $ver (Apache edition) installed for PostgreSQL 15 in $(($(date +%s) - start)) s"
log "add timescaledb to shared_preload_libraries and restart PostgreSQL to use it"
