#include "engine/data/ImageStore.h"

#include <torch/torch.h>

#include <atomic>
#include <cstring>
#include <stdexcept>

namespace ampbench {

ImageLru::ImageLru(int64_t capacityBytes, int64_t imageBytes)
    : imageBytes_(std::max<int64_t>(1, imageBytes)), slots_(std::max<int64_t>(0, capacityBytes / imageBytes_)) {}

bool ImageLru::get(uint64_t key, uint8_t* out) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = where_.find(key);
  if (it == where_.end()) {
    ++misses_;
    return false;
  }
  ++hits_;
  order_.splice(order_.begin(), order_, it->second);
  std::memcpy(out, buffer_.get() + it->second->second * imageBytes_, static_cast<size_t>(imageBytes_));
  return true;
}

void ImageLru::put(uint64_t key, const uint8_t* image) {
  if (slots_ == 0) {
    return;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (where_.count(key) != 0) {
    return;
  }
  if (!buffer_) {
    buffer_.reset(new uint8_t[static_cast<size_t>(slots_ * imageBytes_)]);
  }
  int64_t slot;
  if (static_cast<int64_t>(order_.size()) < slots_) {
    slot = static_cast<int64_t>(order_.size());
  } else {
    slot = order_.back().second;
    where_.erase(order_.back().first);
    order_.pop_back();
  }
  std::memcpy(buffer_.get() + slot * imageBytes_, image, static_cast<size_t>(imageBytes_));
  order_.emplace_front(key, slot);
  where_[key] = order_.begin();
}

int64_t ImageLru::hits() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return hits_;
}

int64_t ImageLru::misses() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return misses_;
}

ImageStore::ImageStore(std::shared_ptr<FileHandle> file, uint64_t offset, int64_t count, int64_t channels,
                       int64_t imageSize, std::shared_ptr<ImageLru> lru)
    : file_(std::move(file)), offset_(offset), count_(count), channels_(channels), size_(imageSize),
      imageBytes_(channels * imageSize * imageSize), lru_(std::move(lru)) {
  static std::atomic<uint64_t> stores{0};
  keyBase_ = (stores.fetch_add(1) + 1) << 40;  // 2^40 images per split, 2^24 stores
}

torch::Tensor ImageStore::gather(const int64_t* indices, int64_t n) const {
  auto out = torch::empty({n, channels_, size_, size_}, torch::kUInt8);
  auto* dst = out.data_ptr<uint8_t>();
  for (int64_t k = 0; k < n; ++k) {
    const int64_t i = indices[k];
    if (i < 0 || i >= count_) {
      throw std::out_of_range("image index " + std::to_string(i) + " outside a split of " + std::to_string(count_));
    }
    uint8_t* row = dst + k * imageBytes_;
    if (lru_ && lru_->get(keyBase_ + static_cast<uint64_t>(i), row)) {
      continue;
    }
    file_->readAt(offset_ + static_cast<uint64_t>(i * imageBytes_), row, static_cast<size_t>(imageBytes_));
    if (lru_) {
      lru_->put(keyBase_ + static_cast<uint64_t>(i), row);
    }
  }
  return out;
}

torch::Tensor ImageStore::range(int64_t begin, int64_t end) const {
  if (begin < 0 || end > count_ || begin > end) {
    throw std::out_of_range("image range outside a split of " + std::to_string(count_));
  }
  auto out = torch::empty({end - begin, channels_, size_, size_}, torch::kUInt8);
  file_->readAt(offset_ + static_cast<uint64_t>(begin * imageBytes_), out.data_ptr<uint8_t>(),
                static_cast<size_t>((end - begin) * imageBytes_));
  return out;
}

}  // namespace ampbench
