#include "engine/export/TorchSaveReader.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/torch.h>

#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>

namespace ampbench {

namespace {

struct Value;
using ValuePtr = std::shared_ptr<Value>;

struct Value {
  enum class Kind { None = 1, Bool, Int, Float, Str, Tuple, List, Dict, Global, Tensor, Storage, Mark };
  Kind kind = Kind::None;
  int64_t i = 0;
  double f = 0.0;
  std::string s;  // Str, Global ("module name"), Storage (record key)
  std::vector<ValuePtr> items;
  std::vector<std::pair<ValuePtr, ValuePtr>> dict;
  torch::Tensor tensor;  // Tensor, Storage (1-D, typed)
};

ValuePtr make(Value::Kind k) {
  auto v = std::make_shared<Value>();
  v->kind = k;
  return v;
}

torch::ScalarType storageDtype(const std::string& global) {
  static const std::map<std::string, torch::ScalarType> types = {
      {"torch FloatStorage", torch::kFloat},   {"torch DoubleStorage", torch::kDouble},
      {"torch HalfStorage", torch::kHalf},     {"torch BFloat16Storage", torch::kBFloat16},
      {"torch LongStorage", torch::kLong},     {"torch IntStorage", torch::kInt},
      {"torch ShortStorage", torch::kShort},   {"torch CharStorage", torch::kChar},
      {"torch ByteStorage", torch::kByte},     {"torch BoolStorage", torch::kBool},
  };
  const auto it = types.find(global);
  if (it == types.end()) {
    throw std::runtime_error("unsupported storage type '" + global + "'");
  }
  return it->second;
}

class Unpickler {
 public:
  Unpickler(const uint8_t* data, size_t size, caffe2::serialize::PyTorchStreamReader& zip)
      : p_(data), end_(data + size), zip_(zip) {}

  ValuePtr run() {
    for (;;) {
      const uint8_t op = byte();
      switch (op) {
        case 0x80: byte(); break;      // PROTO
        case 0x95: bytes(8); break;    // FRAME
        case '.': return pop();        // STOP
        case '(': stack_.push_back(make(Value::Kind::Mark)); break;
        case ')': stack_.push_back(make(Value::Kind::Tuple)); break;
        case 't': {
          auto t = make(Value::Kind::Tuple);
          t->items = popToMark();
          stack_.push_back(t);
          break;
        }
        case 0x85: case 0x86: case 0x87: {  // TUPLE1..3
          auto t = make(Value::Kind::Tuple);
          t->items.resize(op - 0x84);
          for (size_t k = t->items.size(); k-- > 0;) t->items[k] = pop();
          stack_.push_back(t);
          break;
        }
        case ']': stack_.push_back(make(Value::Kind::List)); break;
        case 'a': {
          auto v = pop();
          top()->items.push_back(v);
          break;
        }
        case 'e': {
          auto items = popToMark();
          auto& l = top()->items;
          l.insert(l.end(), items.begin(), items.end());
          break;
        }
        case '}': stack_.push_back(make(Value::Kind::Dict)); break;
        case 's': {
          auto v = pop();
          auto k = pop();
          top()->dict.emplace_back(k, v);
          break;
        }
        case 'u': {
          auto items = popToMark();
          for (size_t k = 0; k + 1 < items.size(); k += 2) top()->dict.emplace_back(items[k], items[k + 1]);
          break;
        }
        case 'X': pushStr(static_cast<size_t>(uint(4))); break;
        case 0x8c: pushStr(static_cast<size_t>(uint(1))); break;
        case 0x8d: pushStr(static_cast<size_t>(uint(8))); break;
        case 'J': pushInt(static_cast<int32_t>(uint(4))); break;
        case 'K': pushInt(static_cast<int64_t>(uint(1))); break;
        case 'M': pushInt(static_cast<int64_t>(uint(2))); break;
        case 0x8a: {  // LONG1: little-endian two's complement
          const auto n = static_cast<size_t>(uint(1));
          const uint8_t* b = bytes(n);
          int64_t v = 0;
          for (size_t k = 0; k < n && k < 8; ++k) v |= static_cast<int64_t>(b[k]) << (8 * k);
          if (n > 0 && n < 8 && (b[n - 1] & 0x80)) v -= int64_t{1} << (8 * n);
          pushInt(v);
          break;
        }
        case 'N': stack_.push_back(make(Value::Kind::None)); break;
        case 0x88: case 0x89: {
          auto v = make(Value::Kind::Bool);
          v->i = op == 0x88;
          stack_.push_back(v);
          break;
        }
        case 'G': {  // BINFLOAT, big-endian
          const uint8_t* b = bytes(8);
          uint64_t bits = 0;
          for (int k = 0; k < 8; ++k) bits = (bits << 8) | b[k];
          auto v = make(Value::Kind::Float);
          std::memcpy(&v->f, &bits, sizeof bits);
          stack_.push_back(v);
          break;
        }
        case 'c': {  // GLOBAL "module\nname\n"
          auto g = make(Value::Kind::Global);
          const auto module = line();  // two statements: operand order of + is unspecified
          g->s = module + " " + line();
          stack_.push_back(g);
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          auto name = pop();
          auto module = pop();
          auto g = make(Value::Kind::Global);
          g->s = module->s + " " + name->s;
          stack_.push_back(g);
          break;
        }
        case 'q': memo_[uint(1)] = top(); break;
        case 'r': memo_[uint(4)] = top(); break;
        case 0x94: memo_[memo_.size()] = top(); break;
        case 'h': stack_.push_back(memoAt(uint(1))); break;
        case 'j': stack_.push_back(memoAt(uint(4))); break;
        case 'R': case 0x81: {  // REDUCE, NEWOBJ
          auto args = pop();
          auto callable = pop();
          stack_.push_back(call(callable, args));
          break;
        }
        case 'b': pop(); break;  // BUILD: OrderedDict _metadata, tensor state: not needed
        case 'Q': stack_.push_back(persistent(pop())); break;
        default: {
          char buf[64];
          std::snprintf(buf, sizeof buf, "unsupported pickle opcode 0x%02x", op);
          throw std::runtime_error(buf);
        }
      }
    }
  }

 private:
  uint8_t byte() { return *bytes(1); }
  const uint8_t* bytes(size_t n) {
    if (static_cast<size_t>(end_ - p_) < n) {
      throw std::runtime_error("truncated pickle data");
    }
    const uint8_t* b = p_;
    p_ += n;
    return b;
  }
  uint64_t uint(size_t n) {
    const uint8_t* b = bytes(n);
    uint64_t v = 0;
    for (size_t k = 0; k < n; ++k) v |= static_cast<uint64_t>(b[k]) << (8 * k);
    return v;
  }
  std::string line() {
    std::string s;
    for (uint8_t c = byte(); c != '\n'; c = byte()) s.push_back(static_cast<char>(c));
    return s;
  }
  void pushStr(size_t n) {
    auto v = make(Value::Kind::Str);
    const uint8_t* b = bytes(n);
    v->s.assign(reinterpret_cast<const char*>(b), n);
    stack_.push_back(v);
  }
  void pushInt(int64_t i) {
    auto v = make(Value::Kind::Int);
    v->i = i;
    stack_.push_back(v);
  }
  ValuePtr pop() {
    if (stack_.empty()) throw std::runtime_error("pickle stack underflow");
    auto v = stack_.back();
    stack_.pop_back();
    return v;
  }
  ValuePtr& top() {
    if (stack_.empty()) throw std::runtime_error("pickle stack underflow");
    return stack_.back();
  }
  std::vector<ValuePtr> popToMark() {
    std::vector<ValuePtr> items;
    while (!stack_.empty() && stack_.back()->kind != Value::Kind::Mark) {
      items.push_back(pop());
    }
    if (stack_.empty()) throw std::runtime_error("pickle MARK missing");
    stack_.pop_back();
    return {items.rbegin(), items.rend()};
  }
  ValuePtr memoAt(uint64_t k) {
    const auto it = memo_.find(k);
    if (it == memo_.end()) throw std::runtime_error("pickle memo entry missing");
    return it->second;
  }

  static std::vector<int64_t> ints(const ValuePtr& t) {
    std::vector<int64_t> out;
    for (const auto& v : t->items) out.push_back(v->i);
    return out;
  }

  // persistent id ('storage', StorageType, key, location, numel)
  ValuePtr persistent(const ValuePtr& pid) {
    if (pid->kind != Value::Kind::Tuple || pid->items.size() < 3 || pid->items[0]->s != "storage") {
      throw std::runtime_error("unsupported persistent id in pickle");
    }
    const auto dtype = storageDtype(pid->items[1]->s);
    const auto key = pid->items[2]->s;
    auto it = storages_.find(key);
    if (it == storages_.end()) {
      const std::string record = "data/" + key;
      if (!zip_.hasRecord(record)) throw std::runtime_error("missing tensor data record " + record);
      auto [ptr, size] = zip_.getRecord(record);
      const auto elem = static_cast<int64_t>(c10::elementSize(dtype));
      auto t = torch::empty({static_cast<int64_t>(size) / elem}, torch::TensorOptions().dtype(dtype));
      std::memcpy(t.data_ptr(), ptr.get(), static_cast<size_t>(t.numel() * elem));
      auto v = make(Value::Kind::Storage);
      v->tensor = t;
      v->s = key;
      it = storages_.emplace(key, v).first;
    }
    return it->second;
  }

  ValuePtr call(const ValuePtr& callable, const ValuePtr& args) {
    const auto& name = callable->s;
    if (name == "collections OrderedDict" || name == "builtins dict") {
      return make(Value::Kind::Dict);
    }
    if (name == "torch._utils _rebuild_tensor_v2" || name == "torch._utils _rebuild_tensor") {
      // (storage, storage_offset, size, stride, ...)
      const auto& a = args->items;
      if (a.size() < 4 || a[0]->kind != Value::Kind::Storage) throw std::runtime_error("bad _rebuild_tensor args");
      auto t = make(Value::Kind::Tensor);
      t->tensor = a[0]->tensor.as_strided(ints(a[2]), ints(a[3]), a[1]->i).clone();
      return t;
    }
    if (name == "torch._utils _rebuild_parameter") {  // (tensor, requires_grad, hooks)
      return args->items.at(0);
    }
    throw std::runtime_error("unsupported pickle global '" + name + "'");
  }

  const uint8_t* p_;
  const uint8_t* end_;
  caffe2::serialize::PyTorchStreamReader& zip_;
  std::vector<ValuePtr> stack_;
  std::map<uint64_t, ValuePtr> memo_;
  std::map<std::string, ValuePtr> storages_;
};

bool collectTensors(const ValuePtr& dict, std::vector<std::pair<std::string, torch::Tensor>>& out) {
  for (const auto& [k, v] : dict->dict) {
    if (k->kind == Value::Kind::Str && v->kind == Value::Kind::Tensor) {
      out.emplace_back(k->s, v->tensor);
    }
  }
  return !out.empty();
}

}  // namespace

std::vector<std::pair<std::string, torch::Tensor>> readTorchSaveStateDict(const std::string& path) {
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> zip;
  try {
    zip = std::make_unique<caffe2::serialize::PyTorchStreamReader>(path);
  } catch (const std::exception&) {
    throw std::runtime_error("not a torch.save zip file");
  }
  if (!zip->hasRecord("data.pkl")) {
    throw std::runtime_error("no data.pkl in the archive (not written by torch.save)");
  }
  auto [ptr, size] = zip->getRecord("data.pkl");
  Unpickler u(static_cast<const uint8_t*>(ptr.get()), size, *zip);
  const auto root = u.run();
  if (root->kind != Value::Kind::Dict) {
    throw std::runtime_error("the file holds no dict of tensors");
  }
  std::vector<std::pair<std::string, torch::Tensor>> out;
  if (collectTensors(root, out)) {
    return out;
  }
  for (const char* key : {"state_dict", "model", "model_state_dict"}) {
    for (const auto& [k, v] : root->dict) {
      if (k->kind == Value::Kind::Str && k->s == key && v->kind == Value::Kind::Dict && collectTensors(v, out)) {
        return out;
      }
    }
  }
  throw std::runtime_error("the file's dict holds no tensors");
}

}  // namespace ampbench
