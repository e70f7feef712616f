# Sanitizer and fuzzing builds (scripts/check-sanitizers, scripts/fuzz). Only our code is
# instrumented: LibTorch, Qt, OpenCV and GDCM are Debian's binaries.
#   AMPBENCH_SANITIZE=address  ASan + UBSan, UBSan findings abort (-fno-sanitize-recover)
#   AMPBENCH_SANITIZE=thread   TSan
#   AMPBENCH_FUZZ=ON           libFuzzer targets in fuzz/ (clang; implies address)
set(AMPBENCH_SANITIZE "" CACHE STRING "Sanitizer build: address (ASan+UBSan), thread (TSan) or empty")
set_property(CACHE AMPBENCH_SANITIZE PROPERTY STRINGS "" address thread)
option(AMPBENCH_FUZZ "Build the libFuzzer targets in fuzz/ (clang only)" OFF)

if(AMPBENCH_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "AMPBENCH_FUZZ needs clang (libFuzzer): -DCMAKE_CXX_COMPILER=clang++")
  endif()
  if(AMPBENCH_SANITIZE STREQUAL "")
    set(AMPBENCH_SANITIZE address CACHE STRING "" FORCE)
  endif()
endif()

if(AMPBENCH_SANITIZE STREQUAL "address")
  set(_ampbench_san -fsanitize=address,undefined -fno-sanitize-recover=all)
elseif(AMPBENCH_SANITIZE STREQUAL "thread")
  set(_ampbench_san -fsanitize=thread)
elseif(NOT AMPBENCH_SANITIZE STREQUAL "")
  message(FATAL_ERROR "AMPBENCH_SANITIZE must be address, thread or empty, not '${AMPBENCH_SANITIZE}'")
endif()

if(_ampbench_san)
  # -O1 -g: readable stacks at a bearable speed; after the build type's flags, so it wins.
  add_compile_options(${_ampbench_san} -fno-omit-frame-pointer -O1 -g)
  add_link_options(${_ampbench_san})
  if(AMPBENCH_FUZZ)
    # Coverage for the fuzzer in every object; only fuzz/ links libFuzzer's main.
    add_compile_options(-fsanitize=fuzzer-no-link)
  endif()
  message(STATUS "AmpBench: sanitizer build (${AMPBENCH_SANITIZE})")
endif()
