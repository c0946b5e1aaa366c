// A tensor layout: the named tensors (each a dtype and a shape) that one slot of a buffer ring
// holds, packed into one shareable buffer at aligned offsets. A Sender created with a layout
// (sender.hpp) publishes a ring of such buffers; its SenderInfo carries the layout, and a
// Subscriber checks the ring it imports against it. No Vulkan here: the protocol's decoder (and
// the fuzzer) uses it alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace geyser {

/// The element type of a tensor (the numbers are part of the sender protocol's wire format).
/// The names are numpy's and DLPack's (bfloat16 has no numpy dtype: host reads refuse it).
enum class DType : uint8_t {
    kBool = 1,
    kUint8 = 2,
    kInt8 = 3,
    kUint16 = 4,
    kInt16 = 5,
    kUint32 = 6,
    kInt32 = 7,
    kUint64 = 8,
    kInt64 = 9,
    kFloat16 = 10,
    kBFloat16 = 11,
    kFloat32 = 12,
    kFloat64 = 13,
};

/// "float32", "uint8", ... ("unknown" for a value outside the enum).
const char* to_string(DType dtype);
/// The dtype named `name` (to_string's names). InvalidArgumentError for any other name.
DType dtype_from_string(const std::string& name);
/// Bytes per element; 0 for a value outside the enum.
size_t dtype_size(DType dtype);
/// Whether `value` is one of DType's numbers.
bool is_dtype(uint8_t value) noexcept;

/// One tensor of a layout: a name (1-64 characters of [A-Za-z0-9._-]), a dtype and a shape
/// (0-8 dimensions, each at least 1; no dimensions is a scalar). Plain data.
struct TensorDescriptor {
    std::string name;
    DType dtype = DType::kUint8;
    std::vector<uint64_t> shape;

    bool operator==(const TensorDescriptor& o) const { return name == o.name && dtype == o.dtype && shape == o.shape; }
};

/// The tensors of one ring slot and where each lies in the slot's buffer: tensor i starts at
/// offset(i), a multiple of kAlignment (so a CUDA or DLPack view of it is aligned for every
/// dtype), after tensor i-1, in the order given. Immutable after construction; copyable.
class TensorLayout {
public:
    static constexpr uint64_t kAlignment = 256;
    static constexpr size_t kMaxTensors = 64;
    static constexpr size_t kMaxRank = 8;
    static constexpr size_t kMaxNameLength = 64;
    /// The largest slot: 16 GiB (a ring holds ring_size of them).
    static constexpr uint64_t kMaxBytes = uint64_t(1) << 34;

    /// No tensors: what a texture sender's SenderInfo carries.
    TensorLayout() = default;
    /// Checks and places `tensors`. InvalidArgumentError, naming the tensor, for: no tensors or
    /// more than kMaxTensors; an empty, too long or badly spelled name; a name used twice; a
    /// dtype outside DType; more than kMaxRank dimensions; a dimension of 0; a shape whose
    /// element count or byte size overflows 64 bits; a slot larger than kMaxBytes.
    explicit TensorLayout(std::vector<TensorDescriptor> tensors);

    const std::vector<TensorDescriptor>& tensors() const noexcept { return tensors_; }
    bool empty() const noexcept { return tensors_.empty(); }
    /// Where tensor i starts in the slot's buffer, and its byte size (elements * dtype size).
    uint64_t offset(size_t i) const { return offsets_.at(i); }
    uint64_t bytes(size_t i) const { return bytes_.at(i); }
    /// The index of the tensor named `name`; InvalidArgumentError listing the names otherwise.
    size_t index(const std::string& name) const;
    /// The slot's buffer size: the end of the last tensor (0 for no tensors).
    uint64_t size() const noexcept { return size_; }
    /// "obs: float32[64, 84, 84] @0, reward: float32[64] @1806336"
    std::string describe() const;

    bool operator==(const TensorLayout& o) const { return tensors_ == o.tensors_; }
    bool operator!=(const TensorLayout& o) const { return !(*this == o); }

private:
    std::vector<TensorDescriptor> tensors_;
    std::vector<uint64_t> offsets_;
    std::vector<uint64_t> bytes_;
    uint64_t size_ = 0;
};

}  // namespace geyser
