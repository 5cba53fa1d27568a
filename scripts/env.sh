# shellcheck shell=bash
# Source this file (". scripts/env.sh") to get the paths that scripts/setup.sh
# fills, so that tests, scripts and the local run agree on them:
#
#   TINYHEAD_CACHE        the cache directory (default: <repo>/.cache)
#   TINYHEAD_ORT_LIB      the ONNX Runtime shared library
#   TINYHEAD_MODEL_DIR    the converted default embedding model (model.onnx, vocab.json, model.json)
#   TINYHEAD_AZURITE_BIN  the azurite-blob executable
#   TINYHEAD_SPAM_DIR     the SpamAssassin data set (easy-ham-1, …, spam-2)
#
# A variable that is already set is left as it is, so one can point a single
# path elsewhere (for example TINYHEAD_MODEL_DIR at another model).

# The repository is the parent of this file's directory; shells that cannot
# tell a sourced file's path (dash) use the first go.mod above $PWD.
if [ -n "${BASH_VERSION:-}" ]; then
	eval '_tinyhead_env_src=${BASH_SOURCE[0]}'
elif [ -n "${ZSH_VERSION:-}" ]; then
	eval '_tinyhead_env_src=${(%):-%x}'
else
	_tinyhead_env_src=
fi
if [ -n "$_tinyhead_env_src" ]; then
	_tinyhead_env_root=$(cd -- "$(dirname -- "$_tinyhead_env_src")/.." && pwd -P)
else
	_tinyhead_env_root=$PWD
	while [ ! -f "$_tinyhead_env_root/go.mod" ] && [ "$_tinyhead_env_root" != / ]; do
		_tinyhead_env_root=$(dirname -- "$_tinyhead_env_root")
	done
fi

export TINYHEAD_CACHE="${TINYHEAD_CACHE:-$_tinyhead_env_root/.cache}"
export TINYHEAD_ORT_LIB="${TINYHEAD_ORT_LIB:-$TINYHEAD_CACHE/onnxruntime/libonnxruntime.so}"
export TINYHEAD_MODEL_DIR="${TINYHEAD_MODEL_DIR:-$TINYHEAD_CACHE/model/use-lite}"
export TINYHEAD_AZURITE_BIN="${TINYHEAD_AZURITE_BIN:-$TINYHEAD_CACHE/npm/node_modules/.bin/azurite-blob}"
export TINYHEAD_SPAM_DIR="${TINYHEAD_SPAM_DIR:-$TINYHEAD_CACHE/data/spam-assassin}"

unset _tinyhead_env_src _tinyhead_env_root
