// CopyJobs (cpp/src/ipc/copy_jobs.hpp): which frames the Sender's copier downloads for copy
// subscribers, in which order, and which slots that holds.
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "ipc/copy_jobs.hpp"

namespace geyser {
namespace {

struct Sub {
    int id = 0;
};

using Jobs = CopyJobs<Sub>;

TEST(CopyJobs, LosslessKeepsEveryFrameInOrder) {
    Jobs jobs;
    auto a = std::make_shared<Sub>(Sub{1});
    jobs.add(0, 1, {a}, false);
    jobs.add(1, 2, {a}, false);
    jobs.add(2, 3, {a}, false);
    EXPECT_TRUE(jobs.holds(0) && jobs.holds(1) && jobs.holds(2));
    EXPECT_FALSE(jobs.holds(3));
    for (uint64_t want = 1; want <= 3; ++want) {
        ASSERT_FALSE(jobs.empty());
        const auto& job = jobs.start();
        EXPECT_EQ(job.number, want);
        EXPECT_TRUE(jobs.downloading_for(a.get()));
        const auto done = jobs.finish();
        EXPECT_EQ(done.number, want);
        EXPECT_EQ(done.subs.size(), 1u);
        EXPECT_FALSE(jobs.holds(done.slot));
        EXPECT_FALSE(jobs.downloading_for(a.get()));
    }
    EXPECT_TRUE(jobs.empty());
    EXPECT_FALSE(jobs.any());
}

TEST(CopyJobs, LatestSupersedesFramesNotStartedAndKeepsTheirSubscribers) {
    Jobs jobs;
    auto a = std::make_shared<Sub>(Sub{1});
    auto b = std::make_shared<Sub>(Sub{2});
    jobs.add(0, 1, {a}, true);
    jobs.add(1, 2, {b}, true);  // frame 1 was not started: frame 2 replaces it, for both
    EXPECT_FALSE(jobs.holds(0));
    EXPECT_TRUE(jobs.holds(1));
    const auto& job = jobs.start();
    EXPECT_EQ(job.number, 2u);
    ASSERT_EQ(job.subs.size(), 2u);
    EXPECT_TRUE(jobs.empty());
    // A frame queued while another downloads does not replace the one under way.
    jobs.add(2, 3, {b}, true);
    EXPECT_TRUE(jobs.holds(1) && jobs.holds(2));
    EXPECT_TRUE(jobs.downloading_for(a.get()));
    const auto done = jobs.finish();
    EXPECT_EQ(done.number, 2u);
    EXPECT_FALSE(jobs.holds(1));
    EXPECT_EQ(jobs.start().number, 3u);
}

TEST(CopyJobs, LatestDoesNotListASubscriberTwice) {
    Jobs jobs;
    auto a = std::make_shared<Sub>(Sub{1});
    jobs.add(0, 1, {a}, true);
    jobs.add(1, 2, {a}, true);
    EXPECT_EQ(jobs.start().subs.size(), 1u);
}

TEST(CopyJobs, ClearForgetsQueuedAndRunning) {
    Jobs jobs;
    auto a = std::make_shared<Sub>(Sub{1});
    jobs.add(0, 1, {a}, false);
    jobs.add(1, 2, {a}, false);
    jobs.start();
    EXPECT_TRUE(jobs.any());
    jobs.clear();
    EXPECT_TRUE(jobs.empty());
    EXPECT_FALSE(jobs.any());
    EXPECT_FALSE(jobs.holds(0) || jobs.holds(1));
    EXPECT_FALSE(jobs.downloading_for(a.get()));
}

}  // namespace
}  // namespace geyser
