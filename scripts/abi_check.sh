#!/usr/bin/env bash
# scripts/abi_check.sh <path to librecsys.so.X.Y.Z> - the ABI gate (STYLE B9), run by
# `make abi-check` on a -Og -g build:
#   (a) `nm -D --defined-only` exports only recsys_* (plus the version-node names and the
#       linker's _init/_fini/_edata/... if present), each with a RECSYS_X.Y version, and the
#       SONAME is librecsys.so.MAJOR;
#   (b) the header's RECSYS_API set == lib/recsys.map == the exported set, and every map
#       node matches the @since of its names (scripts/gen_map.py --check);
#   (c) abidiff against the committed baseline abi/librecsys.abi, with abi/librecsys.suppr;
#       any non-zero exit fails and its report is printed; and the enum constants and flag
#       macros (which abidiff cannot see: the API passes them as int32_t) against
#       abi/librecsys.constants: a removed or renumbered value is incompatible;
#   (d) one closing verdict line: "abi-check: PASS ..." or "abi-check: FAIL ...".
# Exit 0 only when every check passed. Environment: PYTHON (default /usr/bin/python3),
# ABI_BASELINE (default abi/librecsys.abi), ABI_SUPPR (default abi/librecsys.suppr),
# ABI_CONSTANTS (default abi/librecsys.constants).
set -u -o pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 <path to librecsys.so.X.Y.Z>" >&2
  exit 2
fi
so=$(readlink -f -- "$1" 2>/dev/null || echo "$1")
cd "$(dirname "$0")/.." || exit 2
PYTHON=${PYTHON:-/usr/bin/python3}
HEADER=include/recsys.h
MAP=lib/recsys.map
BASELINE=${ABI_BASELINE:-abi/librecsys.abi}
SUPPR=${ABI_SUPPR:-abi/librecsys.suppr}
CONSTANTS=${ABI_CONSTANTS:-abi/librecsys.constants}
# How `make abi-store` must write the baseline (see the baseline check in step (c)).
ABIDW_STORE="abidw --no-corpus-path --no-comp-dir-path --type-id-style hash --headers-dir include"

failures=()        # one short phrase per failed check, for the verdict
incompatible=""    # set when abidiff reports an incompatible change
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() { failures+=("$1"); }
say() { printf 'abi-check: %s\n' "$*"; }

for cmd in nm readelf abidiff "$PYTHON"; do
  command -v "$cmd" >/dev/null 2>&1 || { say "FAIL: '$cmd' not found (run 'make deps')"; exit 1; }
done
if [ ! -f "$so" ]; then
  say "FAIL: no library at $1 (build it first: make BUILD=build/abi-build OPT='-Og -g' lib)"
  exit 1
fi
major=$(sed -n 's/^#define RECSYS_VERSION_MAJOR \([0-9]*\)/\1/p' "$HEADER")

# ---------------------------------------------------------------- (a) exported names
say "[a] exported symbols of $(basename "$so")"
if ! nm -D --defined-only "$so" >"$tmp/nm.raw" 2>"$tmp/nm.err"; then
  cat "$tmp/nm.err"; fail "nm could not read the library"
fi
# Lines are "ADDRESS TYPE NAME[@[@]VERSION]"; keep TYPE, NAME and VERSION.
awk 'NF >= 2 { name = $NF; ver = ""; i = index(name, "@");
               if (i) { ver = substr(name, i); sub(/^@+/, "", ver); name = substr(name, 1, i - 1) }
               print $(NF-1), name, ver }' "$tmp/nm.raw" >"$tmp/nm"
# Names the linker may define in any shared object, and the version nodes themselves.
linker_re='^(_init|_fini|_edata|_end|__bss_start|__end__|_etext|__data_start|__dso_handle|_DYNAMIC|_GLOBAL_OFFSET_TABLE_)$'
awk -v lre="$linker_re" '
  $2 ~ /^recsys_/ { next }
  $1 == "A" && $2 ~ /^RECSYS_[0-9]+\.[0-9]+$/ { next }
  $2 ~ lre { next }
  { print $2 " (" $1 ")" }' "$tmp/nm" >"$tmp/foreign"
if [ -s "$tmp/foreign" ]; then
  say "  exported names outside recsys_* (make them static, recsys__* with hidden visibility, or drop them from the map):"
  sed 's/^/    /' "$tmp/foreign"
  fail "$(wc -l <"$tmp/foreign") foreign exported name(s)"
fi
awk '$2 ~ /^recsys_/ && $3 !~ /^RECSYS_[0-9]+\.[0-9]+$/ { print $2 " (version \"" $3 "\")" }' \
  "$tmp/nm" >"$tmp/unversioned"
if [ -s "$tmp/unversioned" ]; then
  say "  recsys_* exports without a RECSYS_X.Y symbol version (was lib/recsys.map applied?):"
  sed 's/^/    /' "$tmp/unversioned"
  fail "unversioned exports"
fi
awk '$2 ~ /^recsys_/ { print $2 }' "$tmp/nm" | sort -u >"$tmp/exported"
soname=$(readelf -d "$so" 2>/dev/null | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
if [ "$soname" != "librecsys.so.$major" ]; then
  say "  SONAME is '${soname:-none}', expected librecsys.so.$major"
  fail "wrong SONAME"
fi
say "  $(wc -l <"$tmp/exported") recsys_* exports, SONAME ${soname:-none}"

# ---------------------------------------------------------------- (b) header = map = exports
say "[b] $HEADER RECSYS_API set = $MAP = exports"
b_ok=1
if ! "$PYTHON" scripts/gen_map.py --list "$HEADER" >"$tmp/header"; then
  fail "cannot parse $HEADER"; b_ok=0
fi
if ! "$PYTHON" scripts/gen_map.py --map-symbols "$MAP" | sort -u >"$tmp/map"; then
  fail "cannot parse $MAP"; b_ok=0
fi
show_diff() {  # show_diff LABEL FILE_A FILE_B : names in A but not in B
  local only
  only=$(comm -23 "$2" "$3")
  if [ -n "$only" ]; then
    say "  $1:"
    printf '%s\n' "$only" | sed 's/^/    /'
    b_ok=0
  fi
}
if [ $b_ok = 1 ]; then
  show_diff "declared RECSYS_API in $HEADER but not exported (not defined in lib/, or missing from the map)" "$tmp/header" "$tmp/exported"
  show_diff "exported but not declared RECSYS_API in $HEADER" "$tmp/exported" "$tmp/header"
  show_diff "in $HEADER but missing from $MAP" "$tmp/header" "$tmp/map"
  show_diff "in $MAP but not declared RECSYS_API in $HEADER" "$tmp/map" "$tmp/header"
  if ! "$PYTHON" scripts/gen_map.py --check "$MAP" "$HEADER" >"$tmp/mapcheck"; then
    grep -v '^gen_map: FAIL' "$tmp/mapcheck" | grep -v -e 'missing recsys_' -e 'is not a RECSYS_API declaration' \
      | sed 's/^/  /'
    b_ok=0
  fi
  if [ $b_ok = 1 ]; then
    say "  $(wc -l <"$tmp/header") names agree, each in the map node of its @since"
  else
    fail "header, map and exports disagree"
  fi
fi

# ---------------------------------------------------------------- (c) abidiff vs baseline
say "[c1] abidiff $BASELINE $(basename "$so")"
suppr_ok=1
if [ ! -f "$SUPPR" ]; then
  say "  missing $SUPPR"; fail "no suppression file"; suppr_ok=0
else
  # abidiff silently ignores a malformed suppression file, so check its shape here: only
  # comments, [suppress_*] section headers and "key = value" lines.
  awk '/^[ \t]*(#|$)/ { next }
       /^[ \t]*\[suppress_(function|variable|type|file)\][ \t]*$/ { next }
       /^[ \t]*[a-z_]+[ \t]*=[ \t]*[^ \t].*$/ { next }
       { printf "  %s:%d: not a suppression line: %s\n", FILENAME, FNR, $0; bad = 1 }
       END { exit bad }' "$SUPPR" || { fail "malformed $SUPPR"; suppr_ok=0; }
fi
if [ ! -f "$BASELINE" ]; then
  say "  no baseline $BASELINE: record one with 'make abi-store' and commit it"
  fail "no ABI baseline"
elif [ $suppr_ok = 1 ]; then
  # Without source locations in the baseline, abidiff cannot tell the public types (defined
  # in include/) from private ones and filters out changes to public structs as well.
  if ! grep -q "filepath='include/" "$BASELINE"; then
    say "  $BASELINE has no source locations under include/ (written with --no-show-locs or"
    say "  --headers-dir missing?): abidiff would hide changes to public structs. Rewrite it:"
    say "    $ABIDW_STORE --out-file $BASELINE <the -Og -g librecsys.so>"
    fail "baseline without source locations"
  fi
  abidiff --headers-dir1 include --headers-dir2 include --suppressions "$SUPPR" \
    --fail-no-debug-info "$BASELINE" "$so" >"$tmp/abidiff" 2>&1
  rc=$?
  if [ $rc -ne 0 ]; then
    lines=$(wc -l <"$tmp/abidiff")
    sed -n '1,300p' "$tmp/abidiff" | sed 's/^/  | /'
    [ "$lines" -gt 300 ] && say "  ... ($lines lines in all)"
    # Counts from the summaries, e.g. "Functions changes summary: 0 Removed, 1 Changed
    # (2 filtered out), 0 Added function".
    read -r removed changed added < <(awk '
      /changes summary:/ {
        line = $0; gsub(/\([^)]*\)/, "", line)
        if (match(line, /[0-9]+ Removed/)) r += substr(line, RSTART, RLENGTH) + 0
        if (match(line, /[0-9]+ Changed/)) c += substr(line, RSTART, RLENGTH) + 0
        if (match(line, /[0-9]+ Added/))   a += substr(line, RSTART, RLENGTH) + 0
      }
      END { print r + 0, c + 0, a + 0 }' "$tmp/abidiff")
    if [ $rc -ge 128 ]; then
      fail "abidiff crashed (exit $rc; signal $((rc - 128)))"
    elif [ $((rc & 1)) -ne 0 ] && [ $((rc & 12)) -eq 0 ]; then
      fail "abidiff could not compare (exit $rc$([ $((rc & 2)) -ne 0 ] && echo ', usage error'); is the build -g?)"
    elif [ $((rc & 8)) -ne 0 ] || [ "$removed" -gt 0 ] || [ "$changed" -gt 0 ]; then
      # abidiff sets bit 8 only for removed symbols; in C a changed parameter, return or
      # reachable type (bit 4 with "Changed") breaks callers just the same.
      incompatible="abidiff exit $rc: $removed removed, $changed changed, $added added interface(s)"
      fail "INCOMPATIBLE ABI change ($incompatible)"
    else
      fail "COMPATIBLE but unrecorded ABI change (abidiff exit $rc: $added added interface(s))"
    fi
  else
    say "  no ABI change against the baseline"
  fi
fi

# ---------------------------------------------------------------- (c) constants vs baseline
# The API passes enums as int32_t, so abidiff never sees enum values; callers compile them in.
say "[c2] enum constants and flag macros vs $CONSTANTS"
if [ ! -f "$CONSTANTS" ]; then
  say "  no $CONSTANTS: record it with 'make abi-store' and commit it"
  fail "no constants baseline"
else
  "$PYTHON" scripts/gen_symbols.py --check-constants "$CONSTANTS" "$HEADER" >"$tmp/const"
  crc=$?
  if [ $crc -eq 0 ]; then
    say "  $(grep -vc '^#' "$CONSTANTS") values unchanged"
  else
    sed 's/^/  | /' "$tmp/const"
    if [ $crc -eq 8 ]; then
      incompatible="${incompatible:+$incompatible; }constants removed or renumbered"
      fail "INCOMPATIBLE constant change (removed or renumbered enum/flag values)"
    elif [ $crc -eq 4 ]; then
      fail "COMPATIBLE but unrecorded constant additions"
    else
      fail "constants check could not run (exit $crc)"
    fi
  fi
fi

# ---------------------------------------------------------------- (d) verdict
if [ ${#failures[@]} -eq 0 ]; then
  say "PASS: $(wc -l <"$tmp/exported") exports, all recsys_*; header = map = exports; no ABI change vs $BASELINE and $CONSTANTS"
  exit 0
fi
if [ -n "$incompatible" ]; then
  say "  an existing interface was removed or changed: STYLE B9 requires a MAJOR (soname) bump."
  say "  If a reviewer judges it compatible (e.g. a member appended to a struct_size-versioned"
  say "  record), record it with 'make abi-store' and explain it in CHANGELOG.md's ABI section."
elif printf '%s\n' "${failures[@]}" | grep -q 'COMPATIBLE but unrecorded'; then
  say "  additions are fine: give them a new map node and @since, run 'make abi-store', and"
  say "  commit abi/librecsys.abi and abi/librecsys.constants with a CHANGELOG.md ABI entry."
fi
msg=$(printf '%s; ' "${failures[@]}")
say "FAIL: ${msg%; }"
exit 1
