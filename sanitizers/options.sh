# Sanitizer run-time options for scripts/check-sanitizers and scripts/fuzz (sourced).
SAN_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# ASan: abort on the first error with a full report; leaks are checked (LeakSanitizer) with
# third-party suppressions only (lsan.supp). allocator_may_return_null: a failed allocation
# returns null as without ASan, since the engine's allocator tests exercise exactly that
# out-of-memory path (the fuzzers catch big allocations with -malloc_limit_mb instead).
export ASAN_OPTIONS=${ASAN_OPTIONS:-allocator_may_return_null=1:abort_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$SAN_DIR/lsan.supp:print_suppressions=0}
# UBSan: built with -fno-sanitize-recover=all, so any finding ends the run; print a stack.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:suppressions=$SAN_DIR/ubsan.supp}
# TSan: stop at the first report (a race is a failure, not a warning).
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$SAN_DIR/tsan.supp}
