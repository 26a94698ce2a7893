#!/bin/sh
# After `cmake --install <build> --prefix PREFIX`, qstore.pc must describe PREFIX:
# its include dir must hold qstore/qstore.h and its lib dir libqstore.so.
#   check_pkgconfig_prefix.sh PREFIX
set -eu
prefix=$1
command -v pkg-config >/dev/null 2>&1 || { echo "SKIPPED: pkg-config not found"; exit 77; }
pc=$(find "$prefix" -name qstore.pc | head -n 1)
[ -n "$pc" ] || { echo "SKIPPED: no qstore.pc under $prefix"; exit 77; }
PKG_CONFIG_PATH=$(dirname "$pc")
export PKG_CONFIG_PATH
inc=$(pkg-config --variable=includedir qstore)
lib=$(pkg-config --variable=libdir qstore)
echo "qstore.pc: includedir=$inc libdir=$lib (installed under $prefix)"
if [ -f "$inc/qstore/qstore.h" ] && [ -f "$lib/libqstore.so" ]; then
  echo "ok: qstore.pc follows the install prefix"
  exit 0
fi
echo "FAIL: qstore.pc points outside the installed tree (is pkgconfig/qstore.pc.in relocatable?)"
exit 1
