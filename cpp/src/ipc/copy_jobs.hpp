// Internal to the Sender: the frames waiting to be downloaded for copy subscribers, which a
// thread of the Sender's own downloads (CopyFeeder::fill) and then delivers, so that end_frame
// returns as soon as the zero-copy subscribers have been told. Plain data, guarded by the
// Sender's state lock.
//
// - kLossless: every frame reaches every copy subscriber, in order: jobs queue up.
// - kLatest: a copy subscriber gets the newest frame once the download under way is done, and the
//   frames in between are dropped for it. A frame queued but not started is superseded by a newer
//   one (its subscribers move to the newer job); a subscriber waiting for the download under way
//   gets that frame, not a second one it did not ask for.
//
// A slot with a job queued or being downloaded counts as held (begin_frame does not write it).
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

namespace geyser {

template <typename Sub>
class CopyJobs {
public:
    struct Job {
        uint32_t slot = 0;
        uint64_t number = 0;
        std::vector<std::shared_ptr<Sub>> subs;
    };

    /// No job queued (one may be running).
    bool empty() const noexcept { return queued_.empty(); }
    /// A job queued or running.
    bool any() const noexcept { return busy_ || !queued_.empty(); }
    /// Whether `slot` has a job queued or being downloaded.
    bool holds(uint32_t slot) const noexcept {
        return (busy_ && running_.slot == slot) ||
               std::any_of(queued_.begin(), queued_.end(), [&](const Job& j) { return j.slot == slot; });
    }
    /// Whether `sub` waits for the frame being downloaded now.
    bool downloading_for(const Sub* sub) const noexcept {
        return busy_ && std::any_of(running_.subs.begin(), running_.subs.end(), [&](const auto& s) { return s.get() == sub; });
    }

    /// Queues frame `number` of `slot` for `subs`. `latest`: replaces the jobs not yet started,
    /// whose subscribers this one takes over.
    void add(uint32_t slot, uint64_t number, std::vector<std::shared_ptr<Sub>> subs, bool latest) {
        if (latest) {
            for (Job& j : queued_) {
                for (auto& s : j.subs) {
                    if (std::find(subs.begin(), subs.end(), s) == subs.end()) subs.push_back(std::move(s));
                }
            }
            queued_.clear();
        }
        queued_.push_back(Job{slot, number, std::move(subs)});
    }

    /// The oldest queued job, now being downloaded (one at a time). Requires !empty() and no job running.
    const Job& start() {
        running_ = std::move(queued_.front());
        queued_.pop_front();
        busy_ = true;
        return running_;
    }
    /// The job start() returned is done: its slot is free again.
    Job finish() {
        busy_ = false;
        return std::move(running_);
    }
    /// Forgets every job (close()).
    void clear() {
        queued_.clear();
        busy_ = false;
        running_ = Job{};
    }

private:
    std::deque<Job> queued_;
    Job running_;
    bool busy_ = false;
};

}  // namespace geyser
