// Tensor streams: TensorLayout's placement and checks, SenderInfo's layout on the wire, and a
// buffer-ring Sender against C++ Subscribers (bytes, both delivery modes, a late joiner), plus a
// sender that contradicts its own layout (ProtocolError, no fd leaked).
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "device_support.hpp"
#include "expect_throw.hpp"
#include "geyser/geyser.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using namespace geyser;
using geyser::testing_support::contains;
using geyser::testing_support::expect_throw;
using geyser::testing_support::fd_count;

namespace {

TensorLayout obs_reward() {
    return TensorLayout({{"obs", DType::kFloat32, {4, 8, 8}}, {"reward", DType::kFloat32, {4}}, {"done", DType::kBool, {4}}});
}

std::string unique_name(const char* what) { return std::string("cpp-tensors-") + what + "-" + std::to_string(::getpid()); }

std::vector<uint8_t> slot_bytes(const TensorLayout& layout, uint64_t number) {
    std::vector<uint8_t> b(layout.size());
    for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>((i * 31 + number * 7) & 0xFF);
    return b;
}

void expect_frame(Subscriber& sub, const TensorLayout& layout, uint64_t number) {
    Subscriber::Frame f = sub.next_frame(5s);
    ASSERT_EQ(f.number(), number);
    std::vector<uint8_t> got(layout.size());
    f.buffer()->read(got.data(), got.size(), 0);
    EXPECT_EQ(got, slot_bytes(layout, number)) << "frame " << number;
    EXPECT_THROW((void)f.texture(), UnsupportedOperationError);
    f.release();
    EXPECT_THROW((void)f.buffer(), InvalidHandleError);
}

SenderInfo buffer_info(const std::string& name, const Device& dev, const TensorLayout& layout) {
    SenderInfo info;
    info.name = name;
    info.producer_pid = static_cast<uint32_t>(::getpid());
    info.ring_size = 1;
    info.max_held = 1;
    info.payload = ResourceKind::kBuffer;
    info.layout = layout;
    info.device_uuid = dev.info().device_uuid;
    info.driver_uuid = dev.info().driver_uuid;
    return info;
}

}  // namespace

TEST(TensorLayout, PlacesTensorsAtAlignedOffsetsInOrder) {
    const TensorLayout l = obs_reward();
    ASSERT_EQ(l.tensors().size(), 3u);
    EXPECT_EQ(l.offset(0), 0u);
    EXPECT_EQ(l.bytes(0), 4u * 8 * 8 * 4);
    EXPECT_EQ(l.offset(1), 1024u);  // 1024 bytes of obs, already aligned
    EXPECT_EQ(l.offset(2), 1280u);  // 16 bytes of reward, rounded up to 256
    EXPECT_EQ(l.size(), 1284u);
    EXPECT_EQ(l.index("reward"), 1u);
    EXPECT_THROW(l.index("nope"), InvalidArgumentError);
    const TensorLayout scalar({{"t", DType::kUint8, {}}});
    EXPECT_EQ(scalar.size(), 1u);
    EXPECT_EQ(dtype_from_string("bfloat16"), DType::kBFloat16);
    EXPECT_EQ(std::string(to_string(DType::kFloat16)), "float16");
    EXPECT_EQ(dtype_size(DType::kFloat64), 8u);
}

TEST(TensorLayout, RefusesBadLayoutsNamingWhy) {
    auto refuses = [](std::vector<TensorDescriptor> t, const char* why) {
        const std::string msg = expect_throw<InvalidArgumentError>([&] { TensorLayout l(std::move(t)); });
        EXPECT_TRUE(contains(msg, why)) << msg;
    };
    refuses({}, "at least one tensor");
    refuses({{"", DType::kUint8, {1}}}, "must be 1-64 characters");
    refuses({{"a b", DType::kUint8, {1}}}, "must be 1-64 characters");
    refuses({{std::string(65, 'x'), DType::kUint8, {1}}}, "must be 1-64 characters");
    refuses({{"a", DType::kUint8, {1}}, {"a", DType::kInt8, {2}}}, "used twice");
    refuses({{"a", static_cast<DType>(99), {1}}}, "unknown");
    refuses({{"a", DType::kUint8, {1, 1, 1, 1, 1, 1, 1, 1, 1}}}, "9 dimensions");
    refuses({{"a", DType::kUint8, {4, 0}}}, "dimension of 0");
    refuses({{"a", DType::kFloat64, {uint64_t(1) << 62, 4}}}, "overflows 64 bits");
    refuses({{"a", DType::kFloat32, {uint64_t(1) << 32, 4}}}, "largest slot");
    refuses({{"a", DType::kUint8, {TensorLayout::kMaxBytes}}, {"b", DType::kUint8, {1}}}, "largest slot");
    std::vector<TensorDescriptor> many;
    for (int i = 0; i < 65; ++i) many.push_back({"t" + std::to_string(i), DType::kUint8, {1}});
    refuses(many, "at most 64 tensors");
    EXPECT_THROW(dtype_from_string("float128"), InvalidArgumentError);
}

TEST(TensorLayout, SenderInfoCarriesItAndTheDecoderIsStrict) {
    SenderInfo info;
    info.name = "t";
    info.ring_size = 3;
    info.max_held = 3;
    info.payload = ResourceKind::kBuffer;
    info.layout = obs_reward();
    std::vector<uint8_t> wire = encode_sender_info(info);
    const SenderInfo back = decode_sender_info(wire.data(), wire.size());
    EXPECT_EQ(back.payload, ResourceKind::kBuffer);
    EXPECT_EQ(back.layout, info.layout);
    EXPECT_EQ(back.layout.size(), info.layout.size());
    // A buffer ring with a texture field set, and a texture ring with a layout, are refused.
    SenderInfo bad = info;
    bad.width = 4;
    wire = encode_sender_info(bad);
    EXPECT_THROW(decode_sender_info(wire.data(), wire.size()), ProtocolError);
    bad = info;
    bad.payload = ResourceKind::kTexture;
    bad.width = bad.height = 4;
    bad.vk_format = VK_FORMAT_R8G8B8A8_UNORM;
    wire = encode_sender_info(bad);
    EXPECT_THROW(decode_sender_info(wire.data(), wire.size()), ProtocolError);
    bad = info;
    bad.layout = TensorLayout();
    wire = encode_sender_info(bad);
    EXPECT_THROW(decode_sender_info(wire.data(), wire.size()), ProtocolError);
    // A protocol 2 peer is refused by version.
    bad = info;
    bad.protocol = 2;
    wire = encode_sender_info(bad);
    EXPECT_THROW(decode_sender_info(wire.data(), wire.size()), ProtocolError);
}

TEST(TensorStream, PublishesBytesToSubscribersInBothModesAndToALateJoiner) {
    DEVICE_OR_SKIP(dev);
    const TensorLayout layout = obs_reward();
    for (DeliveryMode mode : {DeliveryMode::kLossless, DeliveryMode::kLatest}) {
        const std::string name = unique_name(mode == DeliveryMode::kLossless ? "lossless" : "latest");
        SenderOptions o;
        o.mode = mode;
        auto sender = Sender::create(dev, name, layout, o);
        EXPECT_EQ(sender->payload(), ResourceKind::kBuffer);
        EXPECT_EQ(sender->buffers().size(), 3u);
        EXPECT_TRUE(sender->ring().empty());
        auto sub = Subscriber::connect(Device::open(), name, 5s);
        EXPECT_EQ(sub->info().payload, ResourceKind::kBuffer);
        EXPECT_EQ(sub->info().layout, layout);
        ASSERT_EQ(sub->buffers().size(), 3u);
        EXPECT_EQ(sub->buffers()[0]->size(), layout.size());
        for (uint64_t n = 1; n <= 4; ++n) {
            const std::vector<uint8_t> b = slot_bytes(layout, n);
            ASSERT_EQ(sender->publish(b.data(), b.size()), n);
            expect_frame(*sub, layout, n);
        }
        auto late = Subscriber::connect(Device::open(), name, 5s);
        expect_frame(*late, layout, 4);
        // The slot's buffer and layout through begin_frame, written by hand.
        Sender::Frame f = sender->begin_frame();
        ASSERT_TRUE(f.buffer && f.tensor_layout == &sender->layout());
        EXPECT_EQ(f.texture, nullptr);
        const std::vector<uint8_t> b = slot_bytes(layout, 5);
        f.buffer->write(b.data(), b.size(), 0);
        sender->end_frame(f);
        expect_frame(*sub, layout, 5);
        expect_frame(*late, layout, 5);
    }
}

TEST(TensorStream, MisuseGetsSpecificErrors) {
    DEVICE_OR_SKIP(dev);
    const TensorLayout layout = obs_reward();
    EXPECT_THROW(Sender::create(dev, unique_name("empty"), TensorLayout()), InvalidArgumentError);
    auto sender = Sender::create(dev, unique_name("misuse"), layout);
    std::vector<uint8_t> b(layout.size() - 1);
    EXPECT_THROW(sender->publish(b.data(), b.size()), InvalidArgumentError);
    EXPECT_THROW(sender->publish(VK_IMAGE_ASPECT_COLOR_BIT, b.data(), b.size()), InvalidArgumentError);
    EXPECT_EQ(sender->frame(), 0u);  // nothing was begun
    auto textures = Sender::create(dev, unique_name("textures"), testing_support::rgba8(4, 4));
    EXPECT_THROW(textures->publish(b.data(), b.size()), InvalidArgumentError);
}

TEST(TensorStream, SubscriberRefusesASenderWhoseBuffersContradictItsLayout) {
    DEVICE_OR_SKIP(dev);
    const TensorLayout layout = obs_reward();
    auto small = dev->create_shareable_buffer(layout.size() - 4);
    MemoryHandle handle = dev->export_buffer(*small);
    const std::string name = unique_name("contradicts");
    const SenderInfo info = buffer_info(name, *dev, layout);
    (void)sender_socket_path(name);  // creates the runtime directory before the count
    const size_t before = fd_count();
    {
        Listener listener = Listener::bind(sender_socket_path(name));
        std::thread sender([&] {
            try {
                Channel ch = listener.accept(5s);
                (void)ch.receive(5s);  // Hello
                ch.send(kSenderInfoMessage, encode_sender_info(info), {}, 5s);
                ch.send(static_cast<uint16_t>(MessageType::kMemoryHandle), encode_memory_handle(handle),
                        {handle.fd.get()}, 5s);
                (void)ch.receive(5s);  // the subscriber's hang-up
            } catch (const PeerGoneError&) {
            }
        });
        const std::string msg = expect_throw<ProtocolError>([&] { Subscriber::connect(dev, name, 5s); });
        sender.join();
        EXPECT_TRUE(contains(msg, "does not match the sender's description")) << msg;
    }
    EXPECT_EQ(fd_count(), before);
}
