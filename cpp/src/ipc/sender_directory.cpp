#include "geyser/sender_directory.hpp"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <utility>

#include "geyser/channel.hpp"
#include "geyser/error.hpp"
#include "geyser/wire.hpp"
#include "ipc/sender_session.hpp"
#include "../timeout.hpp"

namespace geyser {

using namespace sender_session;

namespace {

void ask_for_info(Channel& ch, uint64_t deadline) {
    Hello hello;
    hello.pid = static_cast<uint32_t>(::getpid());
    hello.subscribe = false;
    ch.send(static_cast<uint16_t>(MessageType::kHello), encode_hello(hello), {}, timeout_of(remaining(deadline)));
}

SenderInfo read_info(Channel& ch, const std::string& name, uint64_t deadline) {
    Message m = expect(ch, kSenderInfoMessage, 0, deadline, "sender info");
    SenderInfo info = decode_sender_info(m.payload.data(), m.payload.size());
    check_sender_identity(info, name, ch);
    return info;
}

}  // namespace

SenderInfo query_sender(const std::string& name, std::chrono::nanoseconds timeout) {
    const uint64_t timeout_ns = nanoseconds_of(timeout);
    const uint64_t deadline = deadline_after(timeout_ns);
    Channel ch = connect_sender(name, deadline);
    ask_for_info(ch, deadline);
    return read_info(ch, name, deadline);
}

std::vector<SenderInfo> list_senders(std::chrono::nanoseconds timeout) {
    const uint64_t timeout_ns = nanoseconds_of(timeout);
    const uint64_t deadline = deadline_after(timeout_ns);
    std::vector<SenderInfo> out;
    const std::string dir = runtime_dir();
    DIR* d = ::opendir(dir.c_str());
    if (!d) return out;
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) {
        std::string f = e->d_name;
        if (f.size() > 5 && f.compare(f.size() - 5, 5, ".sock") == 0) names.push_back(f.substr(0, f.size() - 5));
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    // Every sender is asked first and read after, against the one deadline: a silent entry costs
    // the others nothing, since their answers wait in their own sockets meanwhile. A socket
    // nobody listens on (a crashed producer's) is stale at once, and so is one that does not
    // speak the protocol, or answers as someone else.
    std::vector<std::pair<std::string, Channel>> asked;
    for (const auto& name : names) {
        try {
            Channel ch = connect_sender(name, deadline, /*wait_for_listener=*/false);
            ask_for_info(ch, deadline);
            asked.emplace_back(name, std::move(ch));
        } catch (const Error&) {
        }
    }
    for (auto& [name, ch] : asked) {
        try {
            out.push_back(read_info(ch, name, deadline));
        } catch (const Error&) {
        }
    }
    return out;
}

}  // namespace geyser
