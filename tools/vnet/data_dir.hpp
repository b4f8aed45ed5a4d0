// Where `vnet` finds its data: the conformance tables (fixtures/conformance), the example
// labs (fixtures/labs), the mutation catalogue and the guest image recipe (vm-images/).
// A "data root" is a folder holding fixtures/conformance and vm-images/build.sh: a source
// tree, or <prefix>/share/vnet of an installed vnet (`cmake --install`, the .deb).
// Looked up in this order:
//   1. $VNET_SOURCE_DIR;
//   2. the source tree around the current directory (the directory and its parents);
//   3. the tree around the executable (the parents of /proc/self/exe: a build folder
//      inside a source tree);
//   4. the install prefix's share/vnet: next to the executable (<prefix>/bin/../share/vnet,
//      an install moved elsewhere), then as configured (VNET_INSTALL_DATADIR).
// `vnet conformance --dir DIR` names the tables' folder itself and comes before all.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace vnet::cli {

inline bool is_data_root(const std::filesystem::path& d) {
    std::error_code ec;
    return std::filesystem::is_directory(d / "fixtures" / "conformance", ec) &&
           std::filesystem::exists(d / "vm-images" / "build.sh", ec);
}

/// Every place looked at, in order (for error messages).
inline std::vector<std::string> data_root_candidates() {
    std::vector<std::string> out;
    if (const char* e = std::getenv("VNET_SOURCE_DIR"); e && *e) out.emplace_back(e);
    std::error_code ec;
    auto cwd = std::filesystem::current_path(ec);
    for (auto d = cwd; !ec && !d.empty(); d = d.parent_path()) {
        out.push_back(d.string());
        if (d == d.root_path()) break;
    }
    auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    for (auto d = exe.parent_path(); !ec && !d.empty(); d = d.parent_path()) {
        out.push_back(d.string());
        if (d == d.root_path()) break;
    }
    // an install moved elsewhere: <prefix>/bin/vnet next to <prefix>/share/vnet
    if (!exe.empty()) out.push_back((exe.parent_path().parent_path() / "share" / "vnet").string());
#ifdef VNET_INSTALL_DATADIR
    out.emplace_back(VNET_INSTALL_DATADIR);
#endif
    return out;
}

/// The first data root of data_root_candidates(), or empty. $VNET_SOURCE_DIR, when set,
/// must be one: a wrong value is not silently passed over.
inline std::string find_data_root() {
    if (const char* e = std::getenv("VNET_SOURCE_DIR"); e && *e) return is_data_root(e) ? std::string(e) : std::string();
    for (const auto& c : data_root_candidates())
        if (is_data_root(c)) return c;
    return {};
}

}  // namespace vnet::cli
