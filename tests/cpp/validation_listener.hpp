// Included once by a C++ test program: with GEYSER_VALIDATION=1 every test fails on any
// validation-layer message it caused.
#pragma once

#include <gtest/gtest.h>

#include "geyser/device.hpp"

namespace geyser::testing_support {

class ValidationListener : public ::testing::EmptyTestEventListener {
    void OnTestStart(const ::testing::TestInfo&) override { geyser::clear_validation_messages(); }
    void OnTestEnd(const ::testing::TestInfo&) override {
        for (const auto& m : geyser::validation_messages()) ADD_FAILURE() << "validation: " << m;
    }
};

inline const bool kValidationListenerInstalled = [] {
    ::testing::UnitTest::GetInstance()->listeners().Append(new ValidationListener);
    return true;
}();

}  // namespace geyser::testing_support
