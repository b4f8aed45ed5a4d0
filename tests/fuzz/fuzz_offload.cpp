// libFuzzer target: offload metadata (wire/offload.hpp) of any shape with frames of any
// shape. Input: a 10-byte virtio-net header, then the frame. The header is parsed; the
// frame is segmented (or its checksum finished) and also sent through a switch towards
// one port that takes every offload and one that takes none. Invariants: no crash or
// out-of-bounds access (ASan / UBSan); every segment holds at most gso_size payload bytes
// beyond the frame's headers and no more bytes than the frame; the port without offloads
// gets only complete frames.
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include <vnet/core/bytes.hpp>
#include <vnet/switch/vswitch.hpp>
#include <vnet/wire/offload.hpp>

namespace {

using namespace vnet;

struct checking_port {
    std::uint32_t caps = 0;
    void receive(std::span<const bytes_view> batch) {
        for (auto f : batch)
            if (f.size() < 14) __builtin_trap();
    }
    void receive(std::span<const bytes_view> batch, std::span<const wire::offload_info> offs) {
        if (offs.size() != batch.size()) __builtin_trap();
        for (const auto& o : offs)
            if ((o.needs() & ~caps) != 0) __builtin_trap();
        receive(batch);
    }
    std::uint32_t offload_caps() const noexcept { return caps; }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const bytes_view in(reinterpret_cast<const std::byte*>(data), size);
    auto o = wire::offload_info::parse(in);
    if (!o) return 0;
    const bytes_view frame = in.subspan(wire::offload_info::size);

    std::vector<std::unique_ptr<std::byte[]>> store;
    std::size_t segments = 0;
    auto n = wire::segment(
        frame, *o,
        [&](std::size_t len) {
            store.push_back(std::make_unique<std::byte[]>(len));
            return bytes_span(store.back().get(), len);
        },
        [&](bytes_view s) {
            ++segments;
            if (s.size() > frame.size()) __builtin_trap();
        });
    if (n && *n != segments) __builtin_trap();

    sw::vswitch<checking_port, sw::manual_clock> sw(sw::switch_spec{"fuzz", sw::switch_kind::private_, {}, false});
    auto port = [](const char* name) {  // a VM port without an assigned MAC: any source may send
        sw::port_config c;
        c.name = name;
        return c;
    };
    const auto in_port = *sw.add_port(port("in"), checking_port{});
    (void)sw.add_port(port("all"), checking_port{wire::offload_cap::all});
    (void)sw.add_port(port("none"), checking_port{0});
    const std::array<bytes_view, 1> batch{frame};
    sw.send(in_port, batch, std::span<const wire::offload_info>(&*o, 1));
    return 0;
}
