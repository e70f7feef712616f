#pragma once
// Which sanitizer this translation unit is built with (scripts/check-sanitizers, scripts/fuzz),
// for the few places that must behave differently under one: gcc says it with
// __SANITIZE_*__, clang with __has_feature.

namespace ampbench {

#if defined(__SANITIZE_THREAD__)
#define AMPBENCH_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define AMPBENCH_TSAN 1
#endif
#endif

#if defined(__SANITIZE_ADDRESS__)
#define AMPBENCH_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AMPBENCH_ASAN 1
#endif
#endif

#ifdef AMPBENCH_TSAN
constexpr bool kThreadSanitizer = true;
#else
constexpr bool kThreadSanitizer = false;
#endif

// ASan and TSan reserve terabytes of address space for their shadow memory: an RLIMIT_AS
// cap cannot be applied under them.
#if defined(AMPBENCH_ASAN) || defined(AMPBENCH_TSAN)
constexpr bool kShadowMemorySanitizer = true;
#else
constexpr bool kShadowMemorySanitizer = false;
#endif

}  // namespace ampbench
