#!/usr/bin/env bash
# The hand-written header is the ABI of record: every function it declares
# must be exported by the library, and the library must export nothing else
# -- no Go runtime, cgo or arrow-go symbol, whatever its name
# (capi/libshmarray.map), since those would clash with another Go library
# in the same process.
set -euo pipefail
lib="$1"
header="$(dirname "$0")/../shmarray.h"
declared="$(gcc -E -P -x c "$header" | grep -oE '\bshmarray_[a-z0-9_]+[[:space:]]*\(' | sed -E 's/[[:space:]]*\($//' | sort -u)"
# Every defined dynamic symbol, of any kind (functions, data, weak).
exported="$(nm -D --defined-only "$lib" | awk '{print $NF}' | sort -u)"
missing="$(comm -23 <(echo "$declared") <(echo "$exported"))"
extra="$(comm -13 <(echo "$declared") <(echo "$exported"))"
status=0
if [ -n "$missing" ]; then echo "declared in shmarray.h but not exported:"; echo "$missing"; status=1; fi
if [ -n "$extra" ]; then echo "exported but not declared in shmarray.h:"; echo "$extra" | head -40; status=1; fi
n="$(echo "$declared" | wc -l)"
if [ "$status" = 0 ]; then echo "symbols: $n declared functions, all exported, nothing else exported"; fi
exit "$status"
