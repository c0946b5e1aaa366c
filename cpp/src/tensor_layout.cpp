#include "geyser/tensor_layout.hpp"

#include <set>
#include <string>

#include "geyser/error.hpp"

namespace geyser {

namespace {

struct DTypeInfo {
    DType dtype;
    const char* name;
    size_t size;
};

constexpr DTypeInfo kDTypes[] = {
    {DType::kBool, "bool", 1},        {DType::kUint8, "uint8", 1},     {DType::kInt8, "int8", 1},
    {DType::kUint16, "uint16", 2},    {DType::kInt16, "int16", 2},     {DType::kUint32, "uint32", 4},
    {DType::kInt32, "int32", 4},      {DType::kUint64, "uint64", 8},   {DType::kInt64, "int64", 8},
    {DType::kFloat16, "float16", 2},  {DType::kBFloat16, "bfloat16", 2}, {DType::kFloat32, "float32", 4},
    {DType::kFloat64, "float64", 8},
};

const DTypeInfo* find(DType dtype) {
    for (const DTypeInfo& d : kDTypes) {
        if (d.dtype == dtype) return &d;
    }
    return nullptr;
}

std::string shape_text(const std::vector<uint64_t>& shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

bool name_ok(const std::string& name) {
    if (name.empty() || name.size() > TensorLayout::kMaxNameLength) return false;
    for (char c : name) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                        c == '_' || c == '-';
        if (!ok) return false;
    }
    return true;
}

}  // namespace

const char* to_string(DType dtype) {
    const DTypeInfo* d = find(dtype);
    return d ? d->name : "unknown";
}

DType dtype_from_string(const std::string& name) {
    std::string known;
    for (const DTypeInfo& d : kDTypes) {
        if (name == d.name) return d.dtype;
        known += (known.empty() ? "" : ", ") + std::string(d.name);
    }
    throw InvalidArgumentError("unknown dtype '" + name + "' (known: " + known + ")");
}

size_t dtype_size(DType dtype) {
    const DTypeInfo* d = find(dtype);
    return d ? d->size : 0;
}

bool is_dtype(uint8_t value) noexcept { return find(static_cast<DType>(value)) != nullptr; }

TensorLayout::TensorLayout(std::vector<TensorDescriptor> tensors) : tensors_(std::move(tensors)) {
    if (tensors_.empty()) throw InvalidArgumentError("a tensor layout needs at least one tensor");
    if (tensors_.size() > kMaxTensors) {
        throw InvalidArgumentError("a tensor layout holds at most " + std::to_string(kMaxTensors) + " tensors, got " +
                                   std::to_string(tensors_.size()));
    }
    std::set<std::string> names;
    uint64_t end = 0;
    for (const TensorDescriptor& t : tensors_) {
        if (!name_ok(t.name)) {
            throw InvalidArgumentError("tensor name '" + t.name + "' must be 1-" + std::to_string(kMaxNameLength) +
                                       " characters of letters, digits, '.', '_' and '-'");
        }
        if (!names.insert(t.name).second) throw InvalidArgumentError("tensor name '" + t.name + "' is used twice");
        const std::string who = "tensor '" + t.name + "'";
        const size_t element = dtype_size(t.dtype);
        if (element == 0) {
            throw InvalidArgumentError(who + ": dtype " + std::to_string(static_cast<unsigned>(t.dtype)) + " is unknown");
        }
        if (t.shape.size() > kMaxRank) {
            throw InvalidArgumentError(who + " has " + std::to_string(t.shape.size()) + " dimensions, more than " +
                                       std::to_string(kMaxRank));
        }
        uint64_t bytes = element;
        for (uint64_t dim : t.shape) {
            if (dim == 0) throw InvalidArgumentError(who + " has a dimension of 0 in its shape " + shape_text(t.shape));
            if (bytes > UINT64_MAX / dim) {
                throw InvalidArgumentError(who + ": the byte size of shape " + shape_text(t.shape) + " of " +
                                           to_string(t.dtype) + " overflows 64 bits");
            }
            bytes *= dim;
        }
        const uint64_t offset = (end + kAlignment - 1) / kAlignment * kAlignment;
        if (bytes > kMaxBytes || offset > kMaxBytes - bytes) {
            throw InvalidArgumentError(who + " (" + to_string(t.dtype) + shape_text(t.shape) + ") ends past " +
                                       std::to_string(kMaxBytes) + " bytes, the largest slot a tensor layout may take");
        }
        offsets_.push_back(offset);
        bytes_.push_back(bytes);
        end = offset + bytes;
    }
    size_ = end;
}

size_t TensorLayout::index(const std::string& name) const {
    std::string known;
    for (size_t i = 0; i < tensors_.size(); ++i) {
        if (tensors_[i].name == name) return i;
        known += (known.empty() ? "" : ", ") + tensors_[i].name;
    }
    throw InvalidArgumentError("no tensor named '" + name + "' in the layout (its tensors: " +
                               (known.empty() ? "none" : known) + ")");
}

std::string TensorLayout::describe() const {
    std::string s;
    for (size_t i = 0; i < tensors_.size(); ++i) {
        s += (i ? ", " : "") + tensors_[i].name + ": " + to_string(tensors_[i].dtype) + shape_text(tensors_[i].shape) +
             " @" + std::to_string(offsets_[i]);
    }
    return s;
}

}  // namespace geyser
