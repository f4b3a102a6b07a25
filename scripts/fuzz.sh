#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo-fuzz + libFuzzer on the nightly toolchain) of everything that
# reads client input: the query parsers (`query`), control messages (`control`), the container
# sniffer with every container decoder (`audio_sniffed`) and every declared encoding's decoder
# (`audio_declared`). Each target starts from the committed seeds in fuzz/seeds/TARGET and a
# corpus kept under ~/.cache/hark/fuzz-corpus/TARGET; a crash stops the run (its input is saved
# under fuzz/artifacts/TARGET) and fails this script.
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET (default 20)] [TARGET ...]
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-20}"
shift || true
targets=("$@")
((${#targets[@]})) || targets=(query control audio_sniffed audio_declared)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --version 0.13.2 --locked
export CARGO_TARGET_DIR="${HARK_FUZZ_TARGET_DIR:-$HOME/.cache/hark/fuzz-target}"
corpus_root="${HARK_FUZZ_CORPUS:-$HOME/.cache/hark/fuzz-corpus}"
cd fuzz
cargo +nightly fuzz build -O
for t in "${targets[@]}"; do
  mkdir -p "$corpus_root/$t"
  echo "== fuzz $t for ${secs} s"
  # -rss_limit_mb: a decoder must not need more than this for any input. -timeout: nor longer
  # than this (a stuck decoder is a crash). Leak detection is off: the Speex decoder's worker
  # thread (and its thread-locals) lives as long as the process.
  log="$corpus_root/$t.log"
  status=0
  cargo +nightly fuzz run -O "$t" "$corpus_root/$t" "seeds/$t" -- \
    -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -detect_leaks=0 -print_final_stats=1 >"$log" 2>&1 || status=$?
  grep -E "^(stat::number_of_executed_units|stat::new_units_added|Done|INFO: seed corpus)" "$log" || true
  echo "corpus: $(find "$corpus_root/$t" -type f | wc -l) inputs"
  if [ "$status" -ne 0 ]; then
    grep -E "panicked|ERROR|SUMMARY|Test unit written" "$log" | head -20
    echo "fuzz target $t failed (log: $log)"
    exit 1
  fi
done
