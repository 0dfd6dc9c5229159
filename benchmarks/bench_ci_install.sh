#!/usr/bin/env bash
# Times the install step of `make test` (.ci/run) on a fresh clone: a new venv and
# `pip install -e '.[dev,s3]'`, with pip's default byte-compilation, nothing else (no tests, no Chromium).
#   bash benchmarks/bench_ci_install.sh [REF] [WORKDIR]     (REF: a commit of this repo, default HEAD)
# Prints the wall, user and system seconds of the pip command, then the venv's size and package count.
# Run it twice in a row and quote the second: the first also measures the network (downloads of triton, ray...).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
REF="${1:-HEAD}"
WORK="${2:-$(mktemp -d /tmp/ke-install-XXXXXX)}"
git clone -q "$REPO" "$WORK/src"
git -C "$WORK/src" checkout -q "$REF"
cd "$WORK/src"
python3 -m venv .venv
/usr/bin/time -f "pip install: %e s wall, %U s user, %S s sys" \
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev,s3]' 2>&1 | grep -v "^WARNING: Location"
echo "venv: $(du -sm .venv | cut -f1) MB, $(.venv/bin/python -m pip list 2>/dev/null | tail -n +3 | wc -l) packages"
rm -rf "$WORK"
