// The frame header and the field codec: plain bytes, no OS handles, so this file builds on every
// platform. The handle codecs, which pair a description with a POSIX fd, live one per handle in
// wire_memory_handle.cpp, wire_sync_handle.cpp and wire_timeline_handle.cpp.
#include "geyser/wire.hpp"

#include <cstdio>
#include <utility>

#include "geyser/error.hpp"

namespace geyser {

namespace {

// Little-endian by shifts, so the layout is the same on every host whatever its byte order.
void put_le(std::vector<uint8_t>& out, uint64_t value, size_t n) {
    for (size_t i = 0; i < n; ++i) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

uint64_t get_le(const uint8_t* p, size_t n) {
    uint64_t value = 0;
    for (size_t i = 0; i < n; ++i) value |= static_cast<uint64_t>(p[i]) << (8 * i);
    return value;
}

std::string hex(uint64_t value) {
    char buf[24];
    std::snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(value));
    return buf;
}

// The same acceptance rule as Python's strict UTF-8 decoder: no overlong forms, no surrogates,
// nothing above U+10FFFF. A string one peer accepts must be one the other accepts too.
bool valid_utf8(const uint8_t* s, size_t n) {
    size_t i = 0;
    while (i < n) {
        const uint8_t c = s[i];
        if (c < 0x80) {
            ++i;
            continue;
        }
        size_t len = 0;
        uint32_t cp = 0;
        uint32_t min = 0;
        if ((c & 0xE0) == 0xC0) {
            len = 2, cp = c & 0x1Fu, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3, cp = c & 0x0Fu, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4, cp = c & 0x07u, min = 0x10000;
        } else {
            return false;
        }
        if (n - i < len) return false;
        for (size_t k = 1; k < len; ++k) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3Fu);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += len;
    }
    return true;
}

}  // namespace

const char* message_type_name(uint16_t type) noexcept {
    switch (static_cast<MessageType>(type)) {
        case MessageType::kMemoryHandle:
            return "memory_handle";
        case MessageType::kSyncHandle:
            return "sync_handle";
        case MessageType::kTimelineHandle:
            return "timeline_handle";
        case MessageType::kHello:
            return "hello";
        case MessageType::kSubscribe:
            return "subscribe";
        case MessageType::kFrame:
            return "frame";
        case MessageType::kRelease:
            return "release";
        case MessageType::kGoodbye:
            return "goodbye";
    }
    return "unknown";
}

// ---- frame header ---------------------------------------------------------------------------

std::array<uint8_t, kFrameHeaderSize> encode_header(uint16_t type, size_t payload_size, size_t fd_count) {
    if (payload_size > kMaxPayloadSize) {
        throw InvalidArgumentError("payload of " + std::to_string(payload_size) + " bytes exceeds the limit of " +
                                   std::to_string(kMaxPayloadSize) + " bytes per message");
    }
    if (fd_count > kMaxFdsPerMessage) {
        throw InvalidArgumentError(std::to_string(fd_count) + " file descriptors exceed the limit of " +
                                   std::to_string(kMaxFdsPerMessage) + " per message");
    }
    std::vector<uint8_t> out;
    out.reserve(kFrameHeaderSize);
    put_le(out, kWireMagic, 4);
    put_le(out, kWireVersion, 2);
    put_le(out, type, 2);
    put_le(out, payload_size, 4);
    put_le(out, fd_count, 2);
    put_le(out, 0, 2);  // flags
    std::array<uint8_t, kFrameHeaderSize> header{};
    for (size_t i = 0; i < kFrameHeaderSize; ++i) header[i] = out[i];
    return header;
}

std::vector<uint8_t> encode_frame(uint16_t type, const std::vector<uint8_t>& payload, size_t fd_count) {
    const auto header = encode_header(type, payload.size(), fd_count);
    std::vector<uint8_t> frame;
    frame.reserve(kFrameHeaderSize + payload.size());
    frame.insert(frame.end(), header.begin(), header.end());
    frame.insert(frame.end(), payload.begin(), payload.end());
    return frame;
}

FrameHeader decode_header(const uint8_t* data, size_t size) {
    if (size < kFrameHeaderSize) {
        throw ProtocolError("truncated frame header: " + std::to_string(size) + " bytes, expected " +
                            std::to_string(kFrameHeaderSize));
    }
    const auto magic = static_cast<uint32_t>(get_le(data, 4));
    if (magic != kWireMagic) {
        throw ProtocolError("bad frame magic " + hex(magic) + " (expected " + hex(kWireMagic) +
                            ", \"GYSR\"): the peer does not speak the Geyser wire format");
    }
    const auto version = static_cast<uint16_t>(get_le(data + 4, 2));
    if (version != kWireVersion) {
        throw ProtocolError("unsupported wire version " + std::to_string(version) + " (this build speaks " +
                            std::to_string(kWireVersion) + ")");
    }
    FrameHeader header;
    header.type = static_cast<uint16_t>(get_le(data + 6, 2));
    header.payload_size = static_cast<uint32_t>(get_le(data + 8, 4));
    header.fd_count = static_cast<uint16_t>(get_le(data + 12, 2));
    const auto flags = static_cast<uint16_t>(get_le(data + 14, 2));
    if (flags != 0) {
        throw ProtocolError("reserved header flags are " + hex(flags) + "; wire version " +
                            std::to_string(kWireVersion) + " requires 0");
    }
    if (header.payload_size > kMaxPayloadSize) {
        throw ProtocolError("header declares a payload of " + std::to_string(header.payload_size) +
                            " bytes; the limit is " + std::to_string(kMaxPayloadSize));
    }
    if (header.fd_count > kMaxFdsPerMessage) {
        throw ProtocolError("header declares " + std::to_string(header.fd_count) +
                            " file descriptors; the limit is " + std::to_string(kMaxFdsPerMessage));
    }
    return header;
}

// ---- WireWriter -----------------------------------------------------------------------------

void WireWriter::u8(uint8_t value) { data_.push_back(value); }
void WireWriter::u16(uint16_t value) { put_le(data_, value, 2); }
void WireWriter::u32(uint32_t value) { put_le(data_, value, 4); }
void WireWriter::u64(uint64_t value) { put_le(data_, value, 8); }
void WireWriter::boolean(bool value) { data_.push_back(value ? 1 : 0); }
void WireWriter::uuid(const Uuid& value) { data_.insert(data_.end(), value.begin(), value.end()); }

void WireWriter::bytes(const uint8_t* data, size_t size, const char* field) {
    if (size > kMaxPayloadSize) {
        throw InvalidArgumentError(std::string("field '") + field + "': " + std::to_string(size) +
                                   " bytes can never fit in one message (limit " + std::to_string(kMaxPayloadSize) +
                                   ")");
    }
    put_le(data_, size, 4);
    data_.insert(data_.end(), data, data + size);
}

void WireWriter::string(const std::string& value, const char* field, size_t max_size) {
    if (value.size() > max_size) {
        throw InvalidArgumentError(std::string("field '") + field + "': string of " + std::to_string(value.size()) +
                                   " bytes exceeds the limit of " + std::to_string(max_size));
    }
    const auto* bytes_ = reinterpret_cast<const uint8_t*>(value.data());
    if (!valid_utf8(bytes_, value.size())) {
        throw InvalidArgumentError(std::string("field '") + field + "': string is not valid UTF-8");
    }
    bytes(bytes_, value.size(), field);
}

std::vector<uint8_t> WireWriter::take() noexcept { return std::exchange(data_, {}); }

// ---- WireReader -----------------------------------------------------------------------------

WireReader::WireReader(const uint8_t* data, size_t size, std::string what)
    : data_(data), size_(size), what_(std::move(what)) {}

const uint8_t* WireReader::take(const char* field, size_t n) {
    if (remaining() < n) {
        throw ProtocolError(what_ + ": field '" + field + "' needs " + std::to_string(n) + " bytes at offset " +
                            std::to_string(offset_) + ", but only " + std::to_string(remaining()) + " remain");
    }
    const uint8_t* p = data_ + offset_;
    offset_ += n;
    return p;
}

uint64_t WireReader::little_endian(const char* field, size_t n) { return get_le(take(field, n), n); }

uint8_t WireReader::u8(const char* field) { return *take(field, 1); }
uint16_t WireReader::u16(const char* field) { return static_cast<uint16_t>(little_endian(field, 2)); }
uint32_t WireReader::u32(const char* field) { return static_cast<uint32_t>(little_endian(field, 4)); }
uint64_t WireReader::u64(const char* field) { return little_endian(field, 8); }

bool WireReader::boolean(const char* field) {
    const uint8_t v = u8(field);
    if (v > 1) {
        throw ProtocolError(what_ + ": field '" + field + "' is a boolean and must be 0 or 1, found " +
                            std::to_string(v));
    }
    return v == 1;
}

Uuid WireReader::uuid(const char* field) {
    const uint8_t* p = take(field, VK_UUID_SIZE);
    Uuid out{};
    for (size_t i = 0; i < VK_UUID_SIZE; ++i) out[i] = p[i];
    return out;
}

std::vector<uint8_t> WireReader::bytes(const char* field, size_t max_size) {
    const uint32_t n = u32(field);
    if (n > max_size) {
        throw ProtocolError(what_ + ": field '" + field + "' declares " + std::to_string(n) +
                            " bytes; the limit is " + std::to_string(max_size));
    }
    const uint8_t* p = take(field, n);
    return std::vector<uint8_t>(p, p + n);
}

std::string WireReader::string(const char* field, size_t max_size) {
    const uint32_t n = u32(field);
    if (n > max_size) {
        throw ProtocolError(what_ + ": field '" + field + "' declares a string of " + std::to_string(n) +
                            " bytes; the limit is " + std::to_string(max_size));
    }
    const uint8_t* p = take(field, n);
    if (!valid_utf8(p, n)) throw ProtocolError(what_ + ": field '" + field + "' is not valid UTF-8");
    return std::string(reinterpret_cast<const char*>(p), n);
}

void WireReader::finish() const {
    if (remaining() != 0) {
        throw ProtocolError(what_ + ": " + std::to_string(remaining()) + " trailing bytes after the last field (" +
                            std::to_string(offset_) + " bytes expected, " + std::to_string(size_) + " received)");
    }
}

}  // namespace geyser
