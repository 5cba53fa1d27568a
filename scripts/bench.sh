#!/usr/bin/env bash
# bench.sh — every benchmark behind BENCHMARKS.md, in one run on one machine:
#   ingest     raw model throughput vs. end-to-end ingest (blob → SQL) on the same texts
#   reembed    raw model throughput vs. re-embedding the local run's 6,046 stored
#              rows with a second model (claims, texts from SQL, vectors to SQL)
#   sqlstore   row writes and embedding reads (SQLite; SQL Server too when
#              TINYHEAD_TEST_MSSQL_DSN is set)
#   mlp        the trainer on synthetic rows (5,000 and 100,000 rows)
#   training   SpamAssassin "spam" and "group" from the local run's database:
#              the default recipe in memory and from SQL, and both recipes
#              (default, and the reference of docs/design.md) for seeds 0–2 on 1 and 2 cores
#   windows    whole documents: USE-lite clipped vs windowed (128-token windows
#              overlapping by 32, at most 8), embedding texts/s and windows per
#              text, and "spam"/"group" accuracy for seeds 0–2 on both
#   export     the same rows, labels, split and texts to files (bench/export)
#   torch      both recipes in PyTorch on the export (bench/torch_mlp.py)
#   sklearn    LogisticRegression on the export (bench/sklearn_logreg.py)
#   fasttext   supervised fastText on the export's texts (bench/fasttext_bench.py)
#   features   SpamAssassin spam, group and hardham (hard-ham-1 against the
#              rest, built from group) with each choice of features
#              (embedding, sketch, both; seeds 0–2) through the whole
#              training recipe, beside TF-IDF + logistic regression
#              (bench/tfidf_logreg.py) and tuned fastText on the same
#              split (fastText once per seed of TINYHEAD_BENCH_FT_SEEDS,
#              space-separated, default the same seeds; the lexical
#              features' table)
#   scaling    training at 10k, 100k and 1M synthetic rows, in memory and from
#              SQL, with a plot (bench/scaling.png)
# and prints the tables (bench/report.py), which BENCHMARKS.md holds.
#
# It installs what it needs: scripts/setup.sh, and the Debian packages
# python3-torch, python3-sklearn and fasttext (apt, only if missing). If the
# local run's database (.cache/local/tinyhead.db) is missing it runs
# scripts/run-local.sh first (about 2 minutes). It works on a copy of it.
#
# Usage: scripts/bench.sh [--quick] [--out DIR] [--only SECTION,...]
#   --quick   scaling to 100,000 rows only, seed 0 only (a few minutes)
#   --out     where results go (default .cache/bench/<date>)
#   --only    run only these sections (names above)
# The full run takes about 10 minutes on 2 cores, plus about 10 for the
# windows section (it embeds every text again, about 4 windows each), plus
# the local run and set-up when they have not run yet.
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"

quick=0
out=
only=
while (($#)); do
	case $1 in
	--quick) quick=1 ;;
	--out) out=$2; shift ;;
	--only) only=$2; shift ;;
	-h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
	*) echo "bench.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done
want() { [[ -z $only || ,$only, == *,$1,* ]]; }

bash scripts/setup.sh
# shellcheck source=scripts/env.sh
source scripts/env.sh
out=${out:-$TINYHEAD_CACHE/bench/$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$out"
out=$(cd "$out" && pwd -P)

# The reference implementations: Debian's packages, for Debian's python3.
missing=()
for pkg in python3-torch python3-sklearn fasttext; do
	dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
	sudo=()
	if [[ $(id -u) != 0 ]]; then
		command -v sudo >/dev/null || { echo "bench.sh: need root or sudo to install ${missing[*]}" >&2; exit 1; }
		sudo=(sudo)
	fi
	echo "bench.sh: installing ${missing[*]}" >&2
	"${sudo[@]}" apt-get update -q
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
PY=/usr/bin/python3 # Debian's, where python3-torch and python3-sklearn live

seeds=0,1,2
sizes=10000,100000,1000000
if ((quick)); then
	seeds=0
	sizes=10000,100000
fi

{
	echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/ {print $2}') GiB RAM, $(. /etc/os-release && echo "$PRETTY_NAME")"
	echo "go: $(go version)"
	echo "onnxruntime: $(basename "$(readlink -f "$TINYHEAD_ORT_LIB")")"
	echo "python: $($PY --version 2>&1), torch $($PY -c 'import torch; print(torch.__version__)'), sklearn $($PY -c 'import sklearn; print(sklearn.__version__)'), numpy $($PY -c 'import numpy; print(numpy.__version__)')"
	echo "fasttext: $(dpkg-query -W -f '${Version}' fasttext), OpenBLAS: $(dpkg-query -W -f '${Version}' libopenblas0 2>/dev/null || echo none)"
	echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$out/machine.txt"

section() {
	echo
	echo "== $1 ($(date -u +%H:%M:%S))"
	sect_start=$SECONDS
}
done_section() { echo "-- $1 took $((SECONDS - sect_start)) s"; }

db=.cache/local/tinyhead.db
if want training || want windows || want export || want torch || want sklearn || want fasttext || want reembed || want features; then
	if [[ ! -f $db ]]; then
		section "local run (fills $db)"
		./scripts/run-local.sh
		done_section "local run"
	fi
	# A copy: another run of run-local.sh may replace the database meanwhile.
	cp "$db" "$out/tinyhead.db"
	for suffix in -wal -shm; do
		[[ -f $db$suffix ]] && cp "$db$suffix" "$out/tinyhead.db$suffix"
	done
fi

if want ingest; then
	section ingest
	go test -run XXX -bench EmbedThroughput -benchtime 2x ./internal/ingest/ | tee "$out/go-ingest.txt"
	done_section ingest
fi
if want reembed; then
	section reembed
	TINYHEAD_LOCAL_DB="$out/tinyhead.db" go test -run XXX -bench ReembedSpamAssassin -benchtime 1x -timeout 30m ./internal/reembed/ |
		tee "$out/go-reembed.txt"
	done_section reembed
fi
if want sqlstore; then
	section sqlstore
	go test -run XXX -bench . -benchtime 3x ./internal/sqlstore/ | tee "$out/go-sqlstore.txt"
	done_section sqlstore
fi
if want mlp; then
	section mlp
	go test -run XXX -bench 'Train5k|Train100k|Precision' -benchtime 3x ./internal/mlp/ | tee "$out/go-mlp.txt"
	done_section mlp
fi
if want training; then
	section "training (tinyhead on SpamAssassin)"
	TINYHEAD_BENCH_DB="$out/tinyhead.db" TINYHEAD_BENCH_SEEDS=$seeds \
		go test -run XXX -bench 'TrainStored|Recipes' -benchtime 1x -cpu 1,2 ./internal/training/ | tee "$out/go-training.txt"
	done_section training
fi
if want windows; then
	section "windows (clipped vs whole documents)"
	TINYHEAD_BENCH_DB="$out/tinyhead.db" \
		go test -run XXX -bench Windows -benchtime 1x -timeout 90m ./internal/training/ | tee "$out/go-windows.txt"
	done_section windows
fi
if want export || want torch || want sklearn || want fasttext; then
	section export
	go run ./bench/export -db "$out/tinyhead.db" -tasks spam,group -out "$out/export"
	done_section export
fi
if want torch; then
	section "PyTorch (same recipes, same data)"
	: >"$out/torch.jsonl"
	for task in spam group; do
		for threads in 1 2; do
			$PY bench/torch_mlp.py --export "$out/export" --task "$task" --recipe default --threads "$threads" --seeds "$seeds" | tee -a "$out/torch.jsonl"
			$PY bench/torch_mlp.py --export "$out/export" --task "$task" --recipe reference --threads "$threads" --seeds "$seeds" | tee -a "$out/torch.jsonl"
		done
		$PY bench/torch_mlp.py --export "$out/export" --task "$task" --recipe reference --dtype float32 --threads 1 --seeds "$seeds" | tee -a "$out/torch.jsonl"
	done
	done_section torch
fi
if want sklearn; then
	section "scikit-learn LogisticRegression"
	: >"$out/sklearn.jsonl"
	for task in spam group; do
		$PY bench/sklearn_logreg.py --export "$out/export" --task "$task" --threads 2 | tee -a "$out/sklearn.jsonl"
		$PY bench/sklearn_logreg.py --export "$out/export" --task "$task" --threads 2 --raw | tee -a "$out/sklearn.jsonl"
	done
	done_section sklearn
fi
if want fasttext; then
	section fastText
	: >"$out/fasttext.jsonl"
	for task in spam group; do
		$PY bench/fasttext_bench.py --export "$out/export" --task "$task" --threads 2 | tee -a "$out/fasttext.jsonl"
	done
	done_section fasttext
fi
if want features; then
	section "features (lexical sketches vs TF-IDF + LR and fastText)"
	: >"$out/features.jsonl"
	# Labels hardham and sketches the stored texts in the copy, then trains.
	TINYHEAD_BENCH_DB="$out/tinyhead.db" TINYHEAD_BENCH_SEEDS=$seeds TINYHEAD_BENCH_OUT="$out/features.jsonl" \
		go test -run XXX -bench Features -benchtime 1x -timeout 30m ./internal/training/ | tee "$out/go-features.txt"
	go run ./bench/export -db "$out/tinyhead.db" -tasks spam,group,hardham -out "$out/export-features"
	for spec in spam:spam group: hardham:hard-ham-1; do
		task=${spec%%:*} positive=${spec#*:}
		$PY bench/tfidf_logreg.py --export "$out/export-features" --task "$task" --positive "$positive" --threads 2 | tee -a "$out/features.jsonl"
		for seed in ${TINYHEAD_BENCH_FT_SEEDS:-${seeds//,/ }}; do
			$PY bench/fasttext_bench.py --export "$out/export-features" --task "$task" --positive "$positive" --settings tuned \
				--seed "$seed" --threads 2 | tee -a "$out/features.jsonl"
		done
	done
	done_section features
fi
if want scaling; then
	section "scaling ($sizes rows)"
	mkdir -p "$out/scaling-tmp"
	TINYHEAD_BENCH_SCALING=$sizes TINYHEAD_BENCH_PLOT="$out/scaling.png" TINYHEAD_BENCH_TMP="$out/scaling-tmp" \
		go test -run XXX -bench Scaling -benchtime 1x -timeout 60m ./internal/training/ | tee "$out/go-scaling.txt"
	rm -rf "$out/scaling-tmp"
	((quick)) || cp "$out/scaling.png" bench/scaling.png
	done_section scaling
fi

rm -f "$out"/tinyhead.db*
$PY bench/report.py "$out" | tee "$out/tables.md"
echo
echo "bench.sh: results in $out (tables.md: the tables of BENCHMARKS.md)"
