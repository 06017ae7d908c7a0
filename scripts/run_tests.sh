#!/usr/bin/env bash
# Runs each test binary given, prints its cmocka output, and closes with one line
# "N passed, N failed" counting test cases across all binaries. Exit status 1 if any failed.
set -u
passed=0 failed=0 skipped=0 bad_bins=()
timeout_s=${RECSYS_TEST_TIMEOUT:-900}
for bin in "$@"; do
  name=$(basename "$bin")
  out=$(mktemp)
  timeout "$timeout_s" "$bin" >"$out" 2>&1
  rc=$?
  cat "$out"
  p=$(grep -E '^\[  PASSED  \] [0-9]+ test' "$out" | awk '{print $4}' | tail -1)
  f=$(grep -E '^\[  FAILED  \] [0-9]+ test' "$out" | awk '{print $4}' | tail -1)
  s=$(grep -E '^\[  SKIPPED \] [0-9]+ test' "$out" | awk '{print $4}' | tail -1)
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0})); skipped=$((skipped + ${s:-0}))
  if [ $rc -ne 0 ] || [ -z "$p$f" ]; then
    [ -z "$f" ] && failed=$((failed + 1))
    bad_bins+=("$name (exit $rc)")
  fi
  rm -f "$out"
done
[ ${#bad_bins[@]} -gt 0 ] && echo "failing binaries: ${bad_bins[*]}"
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ] && [ ${#bad_bins[@]} -eq 0 ]
