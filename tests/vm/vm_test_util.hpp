// Helpers shared by the VM tests (tests/vm/): the root precondition and lab run options.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include <vnet/lab/runtime.hpp>

#include "test_util.hpp"

namespace vnet::test {

/// Boost.Test precondition of every VM suite: namespaces and TAPs need root.
inline boost::test_tools::assertion_result is_root(boost::unit_test::test_unit_id) {
    boost::test_tools::assertion_result r(::geteuid() == 0);
    r.message() << "VM tests need root (namespaces, TAPs)";
    return r;
}

/// Run options for a test lab: the guest image from $VNET_IMAGE_DIR or built from this
/// source tree, and (when `progress`) the lab's progress lines on stdout.
inline lab::run_options lab_test_options(bool progress = true) {
    lab::run_options o;
    o.source_dir = source_dir();
    if (const char* d = std::getenv("VNET_IMAGE_DIR")) o.image_dir = d;
    if (progress) o.progress = [](const std::string& l) { std::printf("[lab] %s\n", l.c_str()); };
    return o;
}

}  // namespace vnet::test
