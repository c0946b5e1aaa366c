#include "geyser/sender_directory.hpp"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <string>

#include "geyser/channel.hpp"
#include "geyser/error.hpp"
#include "geyser/wire.hpp"
#include "ipc/sender_session.hpp"

namespace geyser {

using namespace sender_session;

SenderInfo query_sender(const std::string& name, uint64_t timeout_ns) {
    const uint64_t deadline = deadline_after(timeout_ns);
    Channel ch = connect_sender(name, deadline);
    Hello hello;
    hello.pid = static_cast<uint32_t>(::getpid());
    hello.subscribe = false;
    ch.send(static_cast<uint16_t>(MessageType::kHello), encode_hello(hello), {}, remaining(deadline));
    Message m = expect(ch, kSenderInfoMessage, 0, deadline, "sender info");
    return decode_sender_info(m.payload.data(), m.payload.size());
}

std::vector<SenderInfo> list_senders(uint64_t timeout_ns_each) {
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
    for (const auto& name : names) {
        try {
            out.push_back(query_sender(name, timeout_ns_each));
        } catch (const Error&) {
            // A stale socket of a crashed producer, or one that does not speak the protocol.
        }
    }
    return out;
}

}  // namespace geyser
