#!/usr/bin/env bash
# Build products in $1: the writer creates a segment, the worker sums a column
# of it (checked against the closed form), and the worker runs again under
# valgrind, which must report no leak and no invalid read.
set -euo pipefail
bin="$1"
dir="$(mktemp -d)"
name="c-example-$$"
trap 'rm -rf "$dir"' EXIT
rows=100000

"$bin/writer" "$name" "$rows" "$dir"
out="$("$bin/worker" "$name" id "$dir")"
echo "$out"
want="sum=$((rows * (rows - 1) / 2)) "
case "$out" in
  "$want"*) ;;
  *) echo "FAIL: worker printed '$out', expected it to start with '$want'"; exit 1 ;;
esac

if ! command -v valgrind >/dev/null; then
  echo "FAIL: valgrind is not installed (apt-get install valgrind)"; exit 1
fi
valgrind --quiet --error-exitcode=9 --leak-check=full --show-possibly-lost=no --errors-for-leak-kinds=definite,indirect \
  "$bin/worker" "$name" x "$dir" >/dev/null
echo "valgrind: worker clean"
echo "2 passed, 0 failed"
