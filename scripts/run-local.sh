#!/usr/bin/env bash
# run-local.sh — the main job on one machine, on the embedded defaults:
# installs what it needs (scripts/setup.sh), starts Azurite, uploads the
# SpamAssassin emails into incoming/ labelled for the tasks "spam" and
# "group", embeds them all into SQLite through the EmbedBlob function (the
# development host plays the Functions host), prints a summary, then trains
# both tasks over the HTTP API and classifies two sample e-mails.
# Extra arguments go to `handler local` (see `go run ./handler local -h`).
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
bash scripts/setup.sh
# shellcheck source=scripts/env.sh
source scripts/env.sh
exec go run ./handler local --fresh --exit-when-done --seed-spamassassin "$TINYHEAD_SPAM_DIR" --train spam,group "$@"
