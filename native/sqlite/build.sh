#!/usr/bin/env bash
# Builds Litecast's own SQLite (with SQLITE_ENABLE_DBPAGE_VTAB) from the official amalgamation, which the npm
# registry publishes inside the `sqlite3` package. Pinned by version and SHA-256; built once per source+flags and
# cached under ~/.cache/litecast/native/<key>/, then copied to OUT_DIR.
#
#   native/sqlite/build.sh OUT_DIR
#
# OUT_DIR receives libsqlite3-litecast.so (loaded by Litecast through SQLitePCLRaw) and sqlite3-litecast (the SQLite
# shell linked against it, used by tests as a separate-process application with the same SQLite build).
set -euo pipefail

out_dir=${1:?usage: build.sh OUT_DIR}

npm_package="sqlite3@6.0.1"
npm_package_sha256="ab8d044a93e05bd031d7ea75547c7fa60387cdc259d27f93c0e3e2832c4b1df9"
amalgamation="package/deps/sqlite-autoconf-3520000.tar.gz"
amalgamation_sha256="f6b50b0c103392af32a8be15b2b9d25959de9a00a70c3979128aafeaa5338b3f"
amalgamation_dir="sqlite-autoconf-3520000"

cflags=(
  -O2 -fPIC -DNDEBUG
  -DSQLITE_ENABLE_DBPAGE_VTAB
  -DSQLITE_ENABLE_SNAPSHOT
  -DSQLITE_ENABLE_FTS5 -DSQLITE_ENABLE_FTS4 -DSQLITE_ENABLE_FTS3_PARENTHESIS
  -DSQLITE_ENABLE_JSON1 -DSQLITE_ENABLE_RTREE -DSQLITE_ENABLE_GEOPOLY
  -DSQLITE_ENABLE_MATH_FUNCTIONS -DSQLITE_ENABLE_COLUMN_METADATA
  -DSQLITE_ENABLE_DBSTAT_VTAB -DSQLITE_ENABLE_STMTVTAB -DSQLITE_ENABLE_BYTECODE_VTAB
  -DSQLITE_ENABLE_UNLOCK_NOTIFY -DSQLITE_ENABLE_API_ARMOR
  -DSQLITE_DEFAULT_FOREIGN_KEYS=0 -DSQLITE_THREADSAFE=1 -DSQLITE_USE_URI=1
  -DHAVE_USLEEP=1 -DHAVE_FDATASYNC=1
)

fail() { echo "litecast native build: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || fail "'$1' is required to build Litecast's SQLite; install it with: $2"; }
need gcc "apt-get install -y gcc"
need npm "apt-get install -y npm (or Node.js from nodejs.org)"
need tar "apt-get install -y tar"
need sha256sum "apt-get install -y coreutils"

script_sha=$(sha256sum "$0" | cut -c1-16)
key="${amalgamation_dir}-${script_sha}"
cache_root="${LITECAST_NATIVE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/litecast/native}"
cache="$cache_root/$key"
mkdir -p "$cache_root" "$out_dir"

copy_out() {
  for f in libsqlite3-litecast.so sqlite3-litecast; do
    if ! cmp -s "$cache/$f" "$out_dir/$f"; then cp -f "$cache/$f" "$out_dir/$f.tmp.$$" && mv -f "$out_dir/$f.tmp.$$" "$out_dir/$f"; fi
  done
}

if [[ -f "$cache/.complete" ]]; then copy_out; exit 0; fi

# One builder at a time per cache (parallel builds of several projects or worktrees share it).
exec 9>"$cache_root/.lock"
flock 9
if [[ -f "$cache/.complete" ]]; then copy_out; exit 0; fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "litecast native build: fetching $npm_package from the npm registry" >&2
(cd "$work" && npm pack --silent "$npm_package" >/dev/null) || fail "npm pack $npm_package failed (is the npm registry reachable?)"
tgz=$(ls "$work"/*.tgz)
echo "$npm_package_sha256  $tgz" | sha256sum -c --quiet - || fail "SHA-256 of $npm_package does not match the pinned value"
tar -xzf "$tgz" -C "$work" "$amalgamation"
echo "$amalgamation_sha256  $work/$amalgamation" | sha256sum -c --quiet - || fail "SHA-256 of $amalgamation does not match the pinned value"
tar -xzf "$work/$amalgamation" -C "$work"
src="$work/$amalgamation_dir"

echo "litecast native build: compiling SQLite $(cat "$src/VERSION") with dbpage (takes about 40 s)" >&2
mkdir -p "$work/out"
gcc "${cflags[@]}" -shared -o "$work/out/libsqlite3-litecast.so" "$src/sqlite3.c" -lpthread -ldl -lm
gcc -O2 -DNDEBUG -DSQLITE_ENABLE_DBPAGE_VTAB -I"$src" -o "$work/out/sqlite3-litecast" "$src/shell.c" \
  -L"$work/out" -lsqlite3-litecast -Wl,-rpath,'$ORIGIN' -lpthread -ldl -lm

rm -rf "$cache.tmp" && mv "$work/out" "$cache.tmp" && rm -rf "$cache" && mv "$cache.tmp" "$cache"
touch "$cache/.complete"
copy_out
