// The test executable is also the child process of the cross-process tests: started with
// `--geyser-child NAME`, it connects to the pipe NAME and runs win32_child_main (test_pipe_channel.cpp).
#include <gtest/gtest.h>

#include <cstring>
#include <string>

int win32_child_main(const std::string& pipe_name);

int main(int argc, char** argv) {
    if (argc == 3 && std::strcmp(argv[1], "--geyser-child") == 0) return win32_child_main(argv[2]);
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
