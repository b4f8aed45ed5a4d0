// The guest profile of a lab VM: the [[vm]] key profile = "busybox" | "eflow" (a bad value
// names file, line and key), and what a profile changes in the QEMU launch (image recipe,
// image folder, kernel command line start, memory). Booting the eflow guest is
// tests/vm/test_vm_eflow_guest.cpp.
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <string>

#include <vnet/lab/guest_profile.hpp>
#include <vnet/lab/lab_file.hpp>
#include <vnet/lab/qemu.hpp>

using namespace vnet;
using namespace vnet::lab;

namespace {
const std::string lab_head = "[lab]\nname = \"t\"\n[[switch]]\nname = \"s\"\nkind = \"private\"\n";
std::string vm_with(const std::string& line) {
    return lab_head + "[[vm]]\nname = \"v\"\n" + line + "[[vm.nic]]\nswitch = \"s\"\n";
}
}  // namespace

BOOST_AUTO_TEST_SUITE(guest_profiles)

BOOST_AUTO_TEST_CASE(names_round_trip) {
    BOOST_TEST((parse_guest_profile("busybox") == guest_profile::busybox));
    BOOST_TEST((parse_guest_profile("eflow") == guest_profile::eflow));
    BOOST_TEST(!parse_guest_profile("EFLOW").has_value());
    BOOST_TEST(!parse_guest_profile("").has_value());
    BOOST_TEST(to_string(guest_profile::eflow) == "eflow");
    BOOST_TEST(to_string(guest_profile::busybox) == "busybox");
    BOOST_TEST(build_script(guest_profile::eflow) == "vm-images/build-eflow.sh");
    BOOST_TEST(build_script(guest_profile::busybox) == "vm-images/build.sh");
}

BOOST_AUTO_TEST_CASE(lab_key_defaults_to_busybox) {
    auto r = parse_lab(vm_with(""), "t.toml");
    BOOST_REQUIRE_MESSAGE(r.has_value(), (r ? std::string() : r.error().to_string()));
    BOOST_TEST((r->vms.at(0).profile == guest_profile::busybox));
    r = parse_lab(vm_with("profile = \"eflow\"\n"), "t.toml");
    BOOST_REQUIRE_MESSAGE(r.has_value(), (r ? std::string() : r.error().to_string()));
    BOOST_TEST((r->vms.at(0).profile == guest_profile::eflow));
}

BOOST_AUTO_TEST_CASE(bad_profile_names_file_line_and_key) {
    auto r = parse_lab(vm_with("profile = \"mariner\"\n"), "t.toml");
    BOOST_REQUIRE(!r.has_value());
    BOOST_TEST(r.error().file == "t.toml");
    BOOST_TEST(r.error().line == 8u);
    BOOST_TEST(r.error().key == "vm.profile");
    BOOST_TEST(r.error().message.find("'mariner' is not one of busybox | eflow") != std::string::npos);
    r = parse_lab(vm_with("profile = 2\n"), "t.toml");
    BOOST_REQUIRE(!r.has_value());
    BOOST_TEST(r.error().key == "vm.profile");
    BOOST_TEST(r.error().message.find("must be a string") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(image_folders_per_profile) {
    ::unsetenv("VNET_EFLOW_IMAGE_DIR");
    BOOST_TEST(default_image_dir(guest_profile::eflow) == "/var/cache/vnet/image-eflow");
    ::setenv("VNET_EFLOW_IMAGE_DIR", "/tmp/x-eflow", 1);
    BOOST_TEST(default_image_dir(guest_profile::eflow) == "/tmp/x-eflow");
    ::unsetenv("VNET_EFLOW_IMAGE_DIR");
    BOOST_TEST(default_image_dir(guest_profile::busybox) == default_image_dir());
}

BOOST_AUTO_TEST_CASE(use_profile_sets_image_cmdline_and_memory) {
    qemu_vm_config c;
    c.name = "eflow";
    vm_nic n;
    n.tap = "tap0";
    n.mac = "00:15:5d:00:00:10";
    n.mode = nic_mode::static_ip;
    n.address = "192.168.0.100/24";
    c.nics.push_back(n);
    use_profile(c, guest_profile::eflow, guest_image{"/k", "/i"});
    BOOST_TEST(c.image.kernel == "/k");
    BOOST_TEST(c.image.initrd == "/i");
    BOOST_TEST(c.memory_mib == 768u);
    auto line = kernel_cmdline(c);
    BOOST_REQUIRE(line.has_value());
    BOOST_TEST(line->find("net.ifnames=0") != std::string::npos);
    BOOST_TEST(line->find("vnet.nic0=00:15:5d:00:00:10,static,192.168.0.100/24,,,") != std::string::npos);
    BOOST_TEST(line->find("vnet.apipa") == std::string::npos);
    c.apipa = true;  // a guest that falls back to APIPA (vm-images/README.md)
    BOOST_TEST(kernel_cmdline(c).value().find(" vnet.apipa=1") != std::string::npos);
    c.apipa = false;
    c.forwarding = "router";
    BOOST_TEST(kernel_cmdline(c).value().find(" vnet.forwarding=router") != std::string::npos);
    c.forwarding = "hub";  // neither bridge nor router
    BOOST_TEST(!kernel_cmdline(c).has_value());
    c.forwarding.clear();
    // host bridge, PIIX3, one slot per NIC, the agent's virtio-serial: hot-plugs start after
    const auto nics = static_cast<unsigned>(c.nics.size());
    BOOST_TEST(pci_slots_at_start(c) == 2u + nics + (c.agent_socket.empty() ? 0u : 1u));
    c.agent_socket = "/run/a.sock";
    BOOST_TEST(pci_slots_at_start(c) == 3u + nics);
    c.agent_socket.clear();
    auto argv = qemu_argv(c);
    BOOST_REQUIRE(argv.has_value());
    bool mem = false;
    for (std::size_t i = 0; i + 1 < argv->size(); ++i) mem = mem || ((*argv)[i] == "-m" && (*argv)[i + 1] == "768");
    BOOST_TEST(mem);

    qemu_vm_config b;
    b.memory_mib = 1024;  // more than a profile needs is kept
    use_profile(b, guest_profile::busybox, guest_image{"/k", "/i"});
    BOOST_TEST(b.memory_mib == 1024u);
    BOOST_TEST(b.base_append == "console=ttyS0 quiet panic=-1 cryptomgr.notests acpi=off");
}

BOOST_AUTO_TEST_SUITE_END()
