// TimelineFanout: one frame's ready signal to many timelines, in one queue submission (Vulkan)
// or one host pass (portable).
#include "sync/timeline_fanout.hpp"

#include <algorithm>
#include <string>

#include "geyser/device.hpp"
#include "geyser/error.hpp"
#include "geyser/sync.hpp"
#include "vulkan/vk.hpp"

namespace geyser {

TimelineFanout::TimelineFanout(std::shared_ptr<Device> device) : device_(std::move(device)) {}

TimelineFanout::~TimelineFanout() {
    // vkDestroySemaphore requires every submission that uses the semaphore to have completed. The
    // owner drains first; where it could not (a device that does not finish), the targets and the
    // completion timeline are left alive on purpose rather than destroyed under the device.
    bool pending = false;
    try {
        pending = done_ && !device_->inherited_across_fork() && done_->value() < submitted_;
    } catch (...) {
        pending = true;
    }
    if (pending) {
        (void)new std::vector<std::pair<uint64_t, std::shared_ptr<Timeline>>>(std::move(retired_));
        (void)new std::shared_ptr<Timeline>(std::move(done_));
    }
}

const std::vector<TimelineFanout::Failure>& TimelineFanout::signal(const std::vector<Timeline*>& targets,
                                                                   uint64_t value, Timeline& after) {
    failures_.clear();
    semaphores_.clear();
    values_.clear();
    portable_.clear();
    vulkan_.clear();
    bool after_checked = false;
    // One pass reads every target (what another process may have done to it) and sorts it; nothing
    // is signalled until every check has passed, so a throw below leaves every target as it was.
    for (size_t i = 0; i < targets.size(); ++i) {
        Timeline& t = *targets[i];
        if (t.device().get() != device_.get()) throw DeviceMismatchError("a fan-out target belongs to another Device");
        try {
            if (PortableTimeline* p = t.portable()) {
                if (!after_checked) {
                    // A portable timeline is signalled on the host, so the frame must be ready now.
                    if (after.value() < value) {
                        throw InvalidArgumentError("a portable timeline is signalled on the host: the ready timeline "
                                                   "must be at " + std::to_string(value) + " first, found " +
                                                   std::to_string(after.value()));
                    }
                    after_checked = true;
                }
                if (p->abandoned()) {
                    failures_.push_back(Failure{i, Failure::Kind::kAbandoned, 0, {}});
                    continue;
                }
                const uint64_t found = p->value();
                if (found > value) {
                    failures_.push_back(Failure{i, Failure::Kind::kAhead, found, {}});
                    continue;
                }
                portable_.push_back(i);
            } else {
                const uint64_t found = t.semaphore()->value();
                if (found > value) {
                    failures_.push_back(Failure{i, Failure::Kind::kAhead, found, {}});
                } else if (found < value) {
                    semaphores_.push_back(t.semaphore()->vk_semaphore());
                    values_.push_back(value);
                    vulkan_.push_back(i);
                }
            }
        } catch (const InvalidArgumentError&) {
            throw;
        } catch (const Error& e) {
            failures_.push_back(Failure{i, Failure::Kind::kError, 0, e.what()});
        }
    }
    // No submission may still be on its way to signal a target (it would then go backwards).
    const bool idle = submitted_ == 0 || (done_ && done_->value() >= submitted_);
    if (!semaphores_.empty() && semaphores_.size() <= kHostSignalMax && idle && after.value() >= value) {
        // Ready already, and few targets: a host signal each is cheaper than a submission.
        for (const size_t i : vulkan_) {
            try {
                targets[i]->semaphore()->signal(value);
            } catch (const Error& e) {
                failures_.push_back(Failure{i, Failure::Kind::kError, 0, e.what()});
            }
        }
    } else if (!semaphores_.empty()) {
        Semaphore* wait = after.semaphore();
        if (wait == nullptr) {
            throw InvalidArgumentError("Vulkan timelines are signalled by the device after a Vulkan ready timeline; "
                                       "this one is portable");
        }
        if (after.device().get() != device_.get()) throw DeviceMismatchError("the ready timeline belongs to another Device");
        prepare();
        semaphores_.push_back(done_->semaphore()->vk_semaphore());
        values_.push_back(submitted_ + 1);
        const VkSemaphore wait_semaphore = wait->vk_semaphore();
        const VkPipelineStageFlags stage = VK_PIPELINE_STAGE_ALL_COMMANDS_BIT;
        VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
        si.waitSemaphoreCount = 1;
        si.pWaitSemaphores = &wait_semaphore;
        si.pWaitDstStageMask = &stage;
        si.signalSemaphoreCount = static_cast<uint32_t>(semaphores_.size());
        si.pSignalSemaphores = semaphores_.data();
        VkTimelineSemaphoreSubmitInfo ti{VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO};
        ti.waitSemaphoreValueCount = 1;
        ti.pWaitSemaphoreValues = &value;
        ti.signalSemaphoreValueCount = static_cast<uint32_t>(values_.size());
        ti.pSignalSemaphoreValues = values_.data();
        chain(si, ti);
        {
            std::lock_guard<std::mutex> q(device_->queue_mutex());
            vk_call("vkQueueSubmit(fanout)",
                    [&] { return device_->vk().vkQueueSubmit(device_->vk_queue(), 1, &si, VK_NULL_HANDLE); });
        }
        ++submitted_;
        highest_wait_ = std::max(highest_wait_, value);
    }
    for (const size_t i : portable_) {
        try {
            targets[i]->portable()->signal(value);
        } catch (const Error& e) {
            // It moved past `value` since it was read: only the process it belongs to can do that.
            failures_.push_back(Failure{i, Failure::Kind::kError, 0, e.what()});
        }
    }
    if (!retired_.empty()) collect();
    return failures_;
}

void TimelineFanout::prepare() {
    if (!done_) done_ = device_->create_timeline(TimelineChoice::kVulkan, 0);
}

void TimelineFanout::retire(std::shared_ptr<Timeline> target) {
    if (!target) return;
    if (submitted_ == 0 || target->kind() != TimelineKind::kVulkan) return;  // no submission can use it
    retired_.emplace_back(submitted_, std::move(target));
    // Frees it at once when every submission has completed, and what earlier ones kept: a
    // producer whose own work signals its subscribers (Sender::ready_targets) may make no
    // submission for a long time, and each target holds a semaphore (an fd on NVIDIA).
    collect();
}

void TimelineFanout::collect() {
    uint64_t completed = 0;
    try {
        completed = done_->value();
    } catch (const Error&) {
        return;  // kept until drain()
    }
    retired_.erase(std::remove_if(retired_.begin(), retired_.end(),
                                  [&](const auto& r) { return r.first <= completed; }),
                   retired_.end());
}

bool TimelineFanout::drain(Timeline& after, std::chrono::nanoseconds timeout) {
    if (!done_) {
        retired_.clear();
        return true;
    }
    const auto completed = [&] {
        try {
            done_->wait(submitted_, timeout);
            return true;
        } catch (const TimeoutError&) {
            return false;
        } catch (const Error&) {
            return false;
        }
    };
    if (!completed()) {
        // Held up by a wait on `after` that never came: the producer's GPU did not signal a frame
        // it ended with ReadySignal::kGpu. The host signals it now, since a queue that never
        // idles would hang Device's destructor (vkDeviceWaitIdle).
        try {
            if (after.value() < highest_wait_) after.signal(highest_wait_);
        } catch (const Error&) {
            // Left to the second wait to tell.
        }
        if (!completed()) return false;  // the destructor leaves the targets alive
    }
    retired_.clear();
    return true;
}

}  // namespace geyser
