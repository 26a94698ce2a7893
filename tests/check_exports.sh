#!/bin/sh
# Checks the exported interface of the shared library:
#   - the defined dynamic FUNCTION symbols (nm -D --defined-only) are exactly the
#     checked list tests/exported_symbols.txt, which must equal the global: list of
#     capi/libqstore.map and the QS_API functions declared in include/qstore/qstore.h;
#   - nothing else is exported (no C++ symbols, no data) apart from the version node;
#   - every qs_ symbol carries a default version QSTORE_1 or QSTORE_1.<minor>;
#   - the SONAME is libqstore.so.1.
#   check_exports.sh LIBQSTORE.so LIBQSTORE.map QSTORE.h EXPORTED_SYMBOLS.txt
set -eu
lib=$1 map=$2 header=$3 list=$4
for tool in nm readelf awk sort diff; do
  command -v "$tool" >/dev/null 2>&1 || { echo "FAIL: $tool not found"; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
status=0

nm -D --defined-only "$lib" > "$tmp/nm"
# Function symbols: T (text), W (weak), i (ifunc). Strip @@VERSION.
awk 'NF >= 3 && $2 ~ /^[TWi]$/ { sub(/@.*/, "", $3); print $3 }' "$tmp/nm" | sort -u > "$tmp/exported"
# Anything else defined, except the version definition itself (type A, QSTORE_*).
awk 'NF >= 3 && $2 !~ /^[TWi]$/ && !($2 == "A" && $3 ~ /^QSTORE_/) { print $2, $3 }' "$tmp/nm" > "$tmp/other"

sed -n '/global:/,/local:/p' "$map" | grep -o 'qs_[A-Za-z0-9_]*' | sort -u > "$tmp/map"
grep -o 'QS_API[^(]*(' "$header" | sed 's/($//' | awk '{ n = $NF; sub(/^\*+/, "", n); print n }' \
  | grep '^qs_' | sort -u > "$tmp/header"
grep -v '^[[:space:]]*#' "$list" | grep -v '^[[:space:]]*$' | sort -u > "$tmp/list"

compare() {  # compare NAME_A FILE_A NAME_B FILE_B
  if ! diff -u "$2" "$4" > "$tmp/diff"; then
    echo "FAIL: $1 and $3 differ (- $1, + $3):"
    sed -n '3,$p' "$tmp/diff"
    status=1
  fi
}
[ -s "$tmp/list" ] || { echo "FAIL: empty checked list $list"; exit 1; }
compare "checked list" "$tmp/list" "exported by $lib" "$tmp/exported"
compare "checked list" "$tmp/list" "capi/libqstore.map" "$tmp/map"
compare "checked list" "$tmp/list" "QS_API functions of qstore.h" "$tmp/header"

if [ -s "$tmp/other" ]; then
  echo "FAIL: other exported symbols:"
  cat "$tmp/other"
  status=1
fi
unversioned=$(awk 'NF >= 3 && $3 ~ /^qs_/ && $3 !~ /@@QSTORE_1(\.[0-9]+)?$/ { print $3 }' "$tmp/nm")
if [ -n "$unversioned" ]; then
  echo "FAIL: symbols without the default version QSTORE_1: $unversioned"
  status=1
fi

soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
if [ "$soname" != "libqstore.so.1" ]; then
  echo "FAIL: SONAME is '$soname', expected libqstore.so.1"
  status=1
fi

if [ "$status" -eq 0 ]; then
  echo "ok: $(wc -l < "$tmp/exported") functions exported, all in the map, the header and the checked list; SONAME $soname"
fi
exit "$status"
