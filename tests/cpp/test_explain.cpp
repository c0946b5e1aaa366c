// explain() (geyser/explain.hpp), the copy ring's codec and mapping (geyser/copy_ring.hpp), and a
// C++ subscriber on the copy path (geyser/subscriber.hpp, ZeroCopy::kNever).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include "device_support.hpp"
#include "geyser/copy_ring.hpp"
#include "geyser/error.hpp"
#include "geyser/explain.hpp"
#include "geyser/memory.hpp"
#include "geyser/sender.hpp"
#include "geyser/subscriber.hpp"

using namespace std::chrono_literals;
using geyser::testing_support::rgba8;

namespace {

std::vector<std::string> codes(const geyser::Explanation& e) {
    std::vector<std::string> out;
    for (const auto& r : e.reasons) out.push_back(r.code);
    return out;
}

}  // namespace

TEST(Explain, TheSameDeviceIsZeroCopyAndTheTestSwitchIsNot) {
    DEVICE_OR_SKIP(dev);
    ::unsetenv("GEYSER_TEST_FORCE_DEVICE_MISMATCH");
    EXPECT_TRUE(geyser::explain(*dev, dev->info()).zero_copy());
    auto tex = dev->create_shareable_texture(rgba8(16, 8));
    geyser::MemoryHandle h = dev->export_texture(*tex);
    EXPECT_TRUE(geyser::explain(*dev, h).zero_copy());
    ::setenv("GEYSER_TEST_FORCE_DEVICE_MISMATCH", "1", 1);
    const geyser::Explanation forced = geyser::explain(*dev, h);
    ::unsetenv("GEYSER_TEST_FORCE_DEVICE_MISMATCH");
    EXPECT_FALSE(forced.zero_copy());
    EXPECT_EQ(forced.path(), geyser::SharePath::kCopy);
    ASSERT_EQ(codes(forced), std::vector<std::string>{"forced_device_mismatch"});
    EXPECT_NE(forced.summary().find("Fix: unset GEYSER_TEST_FORCE_DEVICE_MISMATCH"), std::string::npos);

    geyser::DeviceInfo other = dev->info();
    other.name = "elsewhere";
    other.device_uuid[0] ^= 0xFF;
    const geyser::Explanation e = geyser::explain(*dev, other);
    ASSERT_EQ(codes(e), std::vector<std::string>{"device_uuid_mismatch"});
    EXPECT_NE(e.reasons[0].fix.find(geyser::uuid_to_hex(other.device_uuid)), std::string::npos);
    other.device_uuid = dev->info().device_uuid;
    other.driver_uuid[3] ^= 0x1;
    EXPECT_EQ(codes(geyser::explain(*dev, other)), std::vector<std::string>{"driver_uuid_mismatch"});
    EXPECT_STREQ(geyser::to_string(geyser::SharePath::kZeroCopy), "zero-copy");
}

TEST(CopyRing, TheCodecIsStrict) {
    geyser::CopyRing ring;
    ring.slots = 3;
    ring.slot_size = 96;
    ring.planes = {{0x2, 0, 64}, {0x4, 64, 32}};
    const std::vector<uint8_t> bytes = geyser::encode_copy_ring(ring);
    const geyser::CopyRing back = geyser::decode_copy_ring(bytes.data(), bytes.size());
    EXPECT_EQ(back.slots, 3u);
    EXPECT_EQ(back.file_size(), 288u);
    ASSERT_EQ(back.planes.size(), 2u);
    auto refused = [](geyser::CopyRing r) {
        const std::vector<uint8_t> b = geyser::encode_copy_ring(r);
        EXPECT_THROW(geyser::decode_copy_ring(b.data(), b.size()), geyser::ProtocolError);
    };
    geyser::CopyRing bad = ring;
    bad.slots = 65;
    refused(bad);
    bad = ring;
    bad.planes[1].offset = 60;  // overlaps
    refused(bad);
    bad = ring;
    bad.slot_size = 200;  // a gap at the end
    refused(bad);
    bad = ring;
    bad.planes = {{0x1, 0, 64}, {0x4, 64, 32}};  // COLOR with another
    refused(bad);
    bad = ring;
    bad.planes = {{0x4, 0, 32}, {0x2, 32, 64}};  // out of order
    refused(bad);
    EXPECT_THROW(geyser::decode_copy_ring(bytes.data(), bytes.size() - 1), geyser::ProtocolError);
}

TEST(CopyRing, AMappingNeedsASizeSealedFileOfTheDescribedSize) {
    geyser::CopyRing ring;
    ring.slots = 2;
    ring.slot_size = 4096;
    ring.planes = {{0x1, 0, 4096}};
    geyser::CopyRingMapping mine = geyser::CopyRingMapping::create(ring);
    EXPECT_NE(::fcntl(mine.fd(), F_GET_SEALS) & F_SEAL_SHRINK, 0);
    EXPECT_NE(::ftruncate(mine.fd(), 10), 0);  // sealed
    mine.plane(1, 0)[7] = 42;
    geyser::CopyRingMapping theirs = geyser::CopyRingMapping::open(ring, geyser::UniqueFd(::dup(mine.fd())));
    EXPECT_EQ(theirs.plane(1, 0)[7], 42);

    const int unsealed = ::memfd_create("unsealed", MFD_CLOEXEC);
    ASSERT_EQ(::ftruncate(unsealed, 8192), 0);
    EXPECT_THROW(geyser::CopyRingMapping::open(ring, geyser::UniqueFd(unsealed)), geyser::ProtocolError);
    geyser::CopyRing bigger = ring;
    bigger.slots = 3;
    EXPECT_THROW(geyser::CopyRingMapping::open(bigger, geyser::UniqueFd(::dup(mine.fd()))), geyser::ProtocolError);
}

TEST(CopyPath, ACppSubscriberTakesItWhenAsked) {
    DEVICE_OR_SKIP(dev);
    const std::string name = "explain-copy-" + std::to_string(::getpid());
    auto sender = geyser::Sender::create(dev, name, rgba8(16, 8));
    auto sub = geyser::Subscriber::connect(dev, name, 5s, "gtest", geyser::ZeroCopy::kNever);
    EXPECT_EQ(sub->path(), geyser::SharePath::kCopy);
    EXPECT_FALSE(sub->reason().empty());
    sender->wait_for_subscribers(1, 5s);
    std::vector<uint8_t> pixels(16 * 8 * 4);
    for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 7);
    sender->publish(VK_IMAGE_ASPECT_COLOR_BIT, pixels.data(), pixels.size());
    geyser::Subscriber::Frame f = sub->next_frame(5s);
    std::vector<uint8_t> got(pixels.size());
    f.texture()->download(VK_IMAGE_ASPECT_COLOR_BIT, got.data(), got.size());
    EXPECT_EQ(got, pixels);
    EXPECT_EQ(f.texture()->device(), dev);
    f.release();
    EXPECT_EQ(sender->stats().frames_copied, 1u);
    // Zero-copy works here, so require takes it; with the test switch it refuses, importing nothing.
    EXPECT_EQ(geyser::Subscriber::connect(dev, name, 5s, "gtest", geyser::ZeroCopy::kRequire)->path(),
              geyser::SharePath::kZeroCopy);
    ::setenv("GEYSER_TEST_FORCE_DEVICE_MISMATCH", "1", 1);
    EXPECT_THROW(geyser::Subscriber::connect(dev, name, 5s, "gtest", geyser::ZeroCopy::kRequire),
                 geyser::DeviceMismatchError);
    ::unsetenv("GEYSER_TEST_FORCE_DEVICE_MISMATCH");
}
