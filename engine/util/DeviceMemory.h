#pragma once
// Memory of the device a run trains on, and what "out of memory" looks like.
//
// On a GPU the process's resident set says nothing about the tensors, so a run also
// reports the CUDA caching allocator's peak (bytes handed to tensors, as
// torch.cuda.max_memory_allocated). That needs LibTorch's c10_cuda; in a CPU-only build
// the functions report "not available" and do nothing. Torch-free header.

#include <exception>
#include <string>

namespace ampbench {

// True when this build reads the CUDA allocator's statistics (LibTorch with c10_cuda).
bool cudaMemoryStatsAvailable();
// Starts a new peak for CUDA device `index` (no-op without CUDA statistics).
void resetPeakCudaMemory(int index);
// Peak bytes allocated to tensors on CUDA device `index` since the last reset, in MiB;
// negative when this build cannot tell.
double peakCudaMemoryMb(int index);
// Returns cached, unused blocks to the system: the CPU cache always, the CUDA cache when
// present. After an out-of-memory failure, so the next run (or the GUI) gets them back.
void releaseCachedMemory();

// Whether `e` says the process ran out of memory: c10::OutOfMemoryError (CUDA), std::bad_alloc
// (the caching CPU allocator), or LibTorch's default CPU allocator refusing a block.
bool isOutOfMemory(const std::exception& e);
// The first line of `e.what()`, at most `maxChars` long: LibTorch appends C++ stack traces.
std::string firstLineOf(const std::exception& e, std::size_t maxChars = 240);

}  // namespace ampbench
