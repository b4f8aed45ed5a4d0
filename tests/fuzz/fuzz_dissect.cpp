// libFuzzer target: the whole-frame dissector behind `vnet decode` (every codec in turn).
// Invariants: no crash or sanitizer report; a frame either decodes or names its error;
// every field has a name; the summary is never empty.
#include <cstddef>
#include <cstdint>

#include <vnet/wire/dissect.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto d = vnet::wire::dissect_frame(vnet::as_bytes_view({data, size}));
    if (d.summary.empty()) __builtin_trap();
    for (auto& f : d.fields) {
        if (f.name.empty()) __builtin_trap();
        (void)vnet::wire::field_text(f.value);
    }
    if (d.error && d.error->message().empty()) __builtin_trap();
    return 0;
}
