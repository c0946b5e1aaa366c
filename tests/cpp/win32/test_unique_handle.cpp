// UniqueHandle: ownership, moves, duplication, and handles given to (and taken back from) a process.
#include <windows.h>

#include <gtest/gtest.h>

#include <utility>

#include "geyser/error.hpp"
#include "geyser/unique_handle.hpp"
#include "geyser/win32_error.hpp"

namespace {

using geyser::UniqueHandle;

HANDLE new_event() {
    HANDLE e = CreateEventW(nullptr, TRUE, FALSE, nullptr);
    EXPECT_NE(e, nullptr);
    return e;
}

bool is_open(HANDLE h) {
    DWORD flags = 0;
    return GetHandleInformation(h, &flags) != FALSE;
}

bool signalled(HANDLE h) { return WaitForSingleObject(h, 0) == WAIT_OBJECT_0; }

TEST(UniqueHandle, EmptyByDefaultAndForInvalidHandleValue) {
    UniqueHandle none;
    EXPECT_FALSE(none.valid());
    EXPECT_FALSE(static_cast<bool>(none));
    UniqueHandle invalid(INVALID_HANDLE_VALUE);  // also the current-process pseudo-handle: never closed
    EXPECT_FALSE(invalid.valid());
    invalid.reset();
    EXPECT_TRUE(is_open(GetCurrentProcess()));
}

TEST(UniqueHandle, DestructorCloses) {
    HANDLE raw = new_event();
    { UniqueHandle owner(raw); EXPECT_TRUE(is_open(raw)); }
    EXPECT_FALSE(is_open(raw));
}

TEST(UniqueHandle, MoveTransfersOwnership) {
    HANDLE raw = new_event();
    UniqueHandle a(raw);
    UniqueHandle b(std::move(a));
    EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): a moved-from owner holds nothing
    EXPECT_EQ(b.get(), raw);
    UniqueHandle c;
    c = std::move(b);
    EXPECT_EQ(c.get(), raw);
    EXPECT_TRUE(is_open(raw));
    c = UniqueHandle();
    EXPECT_FALSE(is_open(raw));
}

TEST(UniqueHandle, ReleaseGivesUpOwnership) {
    UniqueHandle owner(new_event());
    HANDLE raw = owner.release();
    EXPECT_FALSE(owner.valid());
    EXPECT_TRUE(is_open(raw));
    EXPECT_TRUE(CloseHandle(raw));
}

TEST(UniqueHandle, DuplicateIsANewHandleToTheSameObject) {
    UniqueHandle original(new_event());
    UniqueHandle copy = original.duplicate();
    ASSERT_TRUE(copy.valid());
    EXPECT_NE(copy.get(), original.get());
    ASSERT_TRUE(SetEvent(copy.get()));
    EXPECT_TRUE(signalled(original.get()));
    HANDLE raw_copy = copy.get();
    original.reset();
    EXPECT_TRUE(is_open(raw_copy));  // the object lives while any handle to it does
}

TEST(UniqueHandle, DuplicateOfBorrowedKeepsTheOriginal) {
    HANDLE raw = new_event();
    {
        UniqueHandle dup = UniqueHandle::duplicate_of(raw);
        EXPECT_NE(dup.get(), raw);
    }
    EXPECT_TRUE(is_open(raw));
    CloseHandle(raw);
}

TEST(UniqueHandle, DuplicatingNothingOrAClosedHandleIsInvalidHandleError) {
    EXPECT_THROW(UniqueHandle().duplicate(), geyser::InvalidHandleError);
    EXPECT_THROW(UniqueHandle::duplicate_of(nullptr), geyser::InvalidHandleError);
    EXPECT_THROW(UniqueHandle::duplicate_of(INVALID_HANDLE_VALUE), geyser::InvalidHandleError);
    HANDLE raw = new_event();
    CloseHandle(raw);
    EXPECT_THROW(UniqueHandle::duplicate_of(raw), geyser::InvalidHandleError);
}

TEST(UniqueHandle, DuplicateIntoAProcessAndCloseItThere) {
    // The target is this process, opened like a peer would be: only PROCESS_DUP_HANDLE.
    UniqueHandle self(OpenProcess(PROCESS_DUP_HANDLE, FALSE, GetCurrentProcessId()));
    ASSERT_TRUE(self.valid());
    UniqueHandle event(new_event());
    const uint64_t value = geyser::duplicate_into(event.get(), self.get());
    HANDLE given = reinterpret_cast<HANDLE>(static_cast<uintptr_t>(value));
    EXPECT_NE(given, event.get());
    EXPECT_TRUE(is_open(given));
    ASSERT_TRUE(SetEvent(given));
    EXPECT_TRUE(signalled(event.get()));
    geyser::close_in(self.get(), value);
    EXPECT_FALSE(is_open(given));
    EXPECT_TRUE(is_open(event.get()));
}

TEST(UniqueHandle, NoHandleLeaksOverManyCycles) {
    DWORD before = 0;
    if (!GetProcessHandleCount(GetCurrentProcess(), &before)) {
        GTEST_SKIP() << "GetProcessHandleCount is not available here (error " << GetLastError() << ")";
    }
    for (int i = 0; i < 2000; ++i) {
        UniqueHandle a(new_event());
        UniqueHandle b = a.duplicate();
        UniqueHandle c = UniqueHandle::duplicate_of(b.get());
        UniqueHandle d(std::move(c));
    }
    DWORD after = 0;
    ASSERT_TRUE(GetProcessHandleCount(GetCurrentProcess(), &after));
    EXPECT_EQ(after, before);
}

TEST(UniqueHandle, Win32ErrorNamesTheCallAndCode) {
    SetLastError(ERROR_FILE_NOT_FOUND);
    try {
        geyser::throw_last_error("CreateFileW", "some path");
        FAIL() << "throw_last_error returned";
    } catch (const geyser::Win32Error& e) {
        EXPECT_EQ(e.error_code(), static_cast<uint32_t>(ERROR_FILE_NOT_FOUND));
        EXPECT_EQ(e.call(), "CreateFileW");
        const std::string what = e.what();
        EXPECT_NE(what.find("CreateFileW failed"), std::string::npos) << what;
        EXPECT_NE(what.find("Win32 error 2"), std::string::npos) << what;
        EXPECT_NE(what.find("some path"), std::string::npos) << what;
    }
}

}  // namespace
