#!/usr/bin/env bash
# package.sh — build the deployment package of the Azure Functions app:
#
#   dist/package/        the package's tree
#   dist/tinyhead.zip    the same tree zipped (what infra/hooks/postdeploy.sh publishes)
#
# with, at the root: host.json, handler (linux/amd64, cgo, mode 0755),
# lib/libonnxruntime.so, model/ (model.json, model.onnx, vocab.json) and one
# folder per function holding its function.json. It runs scripts/setup.sh
# first (the ONNX Runtime library and the converted model come from there),
# makes sure the Debian 11 sysroot exists (below), then runs
# internal/deploy/cmd/package, which builds the handler with
# CGO_ENABLED=1 GOOS=linux GOARCH=amd64 against that sysroot and writes both
# outputs with Go's archive/zip (see internal/deploy).
#
# The glibc floor. A cgo binary needs the glibc symbol versions of the
# libraries it was linked against: built against Debian 12's glibc 2.36 the
# handler needs GLIBC_2.34. Which image Flex Consumption runs custom handlers
# on is not documented, and the Functions 4.x host images have been Debian
# 11 (glibc 2.31). So the handler is linked against Debian 11's C library:
# Debian 11's libc6, libc6-dev and linux-libc-dev (and, for the test that
# resolves every versioned symbol of the package, libstdc++6 and libgcc-s1),
# fetched with apt-get from Debian's bullseye suites into a private apt
# directory under the cache and unpacked with dpkg-deb into
# $TINYHEAD_CACHE/sysroot/debian11. The host's gcc compiles and links with
# --sysroot and -B pointing there, so headers, start files and libraries all
# come from Debian 11. Done once; a stamp file marks a complete sysroot, and
# TINYHEAD_SYSROOT points at another one. Needs apt-get, dpkg-deb and
# Debian's archive keyring (/usr/share/keyrings/debian-archive-keyring.gpg;
# `apt-get install debian-archive-keyring` on Ubuntu).
#
# Usage: scripts/package.sh [-out DIR]     (default: dist)
#        scripts/package.sh --sysroot      only make sure the sysroot exists; print its path
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
# shellcheck source=scripts/env.sh
source scripts/env.sh

SYSROOT=${TINYHEAD_SYSROOT:-$TINYHEAD_CACHE/sysroot/debian11}
# The Debian 11 packages the sysroot is made of. Changing the list rebuilds it.
SYSROOT_PACKAGES="libc6 libc6-dev linux-libc-dev libstdc++6 libgcc-s1"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

log() { echo "package: $*" >&2; }

# sysroot makes sure $SYSROOT holds Debian 11's C library, headers and
# start files, with every absolute symlink made relative so that nothing in
# it points at the build machine's own libraries.
sysroot() {
	local stamp="$SYSROOT/.tinyhead-sysroot"
	if [ -f "$stamp" ] && [ "$(head -n 1 "$stamp")" = "$SYSROOT_PACKAGES" ]; then
		return 0
	fi
	if [ -n "${TINYHEAD_SYSROOT:-}" ]; then
		log "TINYHEAD_SYSROOT=$TINYHEAD_SYSROOT has no $stamp: unset TINYHEAD_SYSROOT to have this script make one"
		return 1
	fi
	local cmd
	for cmd in apt-get dpkg-deb realpath flock; do
		command -v "$cmd" >/dev/null 2>&1 || {
			log "making the Debian 11 sysroot needs $cmd (a Debian or Ubuntu machine, WSL or dev container; see README, Deploy to Azure)"
			return 1
		}
	done
	[ -r "$KEYRING" ] || {
		log "$KEYRING is missing: install it (apt-get install debian-archive-keyring) to fetch Debian 11's packages"
		return 1
	}
	mkdir -p "$TINYHEAD_CACHE/sysroot"
	exec 9>"$TINYHEAD_CACHE/sysroot/.lock"
	flock 9
	if [ -f "$stamp" ] && [ "$(head -n 1 "$stamp")" = "$SYSROOT_PACKAGES" ]; then
		exec 9>&-
		return 0 # made by another run meanwhile
	fi
	log "making the Debian 11 sysroot in $SYSROOT (once)"
	local apt="$TINYHEAD_CACHE/sysroot/apt"
	mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/sources.list.d"
	cat >"$apt/sources.list" <<-EOF
		deb [signed-by=$KEYRING] http://deb.debian.org/debian bullseye main
		deb [signed-by=$KEYRING] http://deb.debian.org/debian bullseye-updates main
		deb [signed-by=$KEYRING] http://deb.debian.org/debian-security bullseye-security main
	EOF
	local opts=(
		-o "Dir::Etc::SourceList=$apt/sources.list" -o "Dir::Etc::SourceParts=$apt/sources.list.d"
		-o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o Dir::State::status=/dev/null
		-o Acquire::Languages=none -o APT::Sandbox::User="$(id -un)"
		-o Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false
		-o Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false
		-o Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false
	)
	apt-get "${opts[@]}" -q update >&2
	local tmp
	tmp=$(mktemp -d "$TINYHEAD_CACHE/sysroot/.build-XXXXXX")
	# shellcheck disable=SC2086 # the list is words
	(cd "$tmp" && apt-get "${opts[@]}" -q download $SYSROOT_PACKAGES >&2)
	mkdir "$tmp/root"
	local deb
	local versions=()
	for deb in "$tmp"/*.deb; do
		dpkg-deb -x "$deb" "$tmp/root"
		versions+=("$(dpkg-deb -f "$deb" Package) $(dpkg-deb -f "$deb" Version)")
	done
	# Absolute symlinks (libc.so's siblings, libpthread.so → /lib/…) would
	# point at this machine's libraries: make them relative inside the root.
	local link target
	while IFS= read -r -d '' link; do
		target=$(readlink "$link")
		ln -sfn "$(realpath -m --relative-to="$(dirname "$link")" "$tmp/root$target")" "$link"
	done < <(find "$tmp/root" -type l -lname '/*' -print0)
	{
		echo "$SYSROOT_PACKAGES"
		printf '%s\n' "${versions[@]}"
	} >"$tmp/root/.tinyhead-sysroot"
	rm -rf "$SYSROOT"
	mkdir -p "$(dirname "$SYSROOT")"
	mv "$tmp/root" "$SYSROOT"
	rm -rf "$tmp"
	exec 9>&-
	log "sysroot: $(tail -n +2 "$SYSROOT/.tinyhead-sysroot" | paste -sd, - | sed 's/,/, /g')"
}

if [ "${1:-}" = --sysroot ]; then
	sysroot
	echo "$SYSROOT"
	exit 0
fi
bash scripts/setup.sh
sysroot
exec go run ./internal/deploy/cmd/package -root . -sysroot "$SYSROOT" "$@"
