// vnet/switch/vswitch.hpp - the Hyper-V style virtual switch datapath.
//
//   vswitch<Transport, Clock> sw(switch_spec{"ExternalEflow", switch_kind::external, "eth0", true});
//   auto vm  = *sw.add_port(port_config::vm("eflow", mac), memory_port{});
//   auto up  = *sw.add_port(port_config::uplink("eth0"), memory_port{});
//   sw.send(vm, frames);            // any range of frames (bytes_view, std::vector<std::byte>&, ...)
//   sw.counters(vm).drop(drop_reason::spoofed_source);
//
// Behaviour (sources in the comments of each step):
// - Layer 2 only: the switch learns (VLAN, source MAC) -> port and forwards known unicast
//   to exactly one port; unknown unicast, broadcast and multicast go to every other port of
//   the same VLAN: it "will act as a 'hub' rather than a switch and send packets out on all
//   virtual switch ports" until it has learned ([HV], last section). It never
//   routes: two subnets on one switch need a router ([HV], comments of Simone and
//   jhoward, "virtual network switches operate at level 2").
// - A frame never goes back out of its input port (a known destination on the input port
//   is dropped as "reflect", VPP l2_fwd REFLECT_DROP).
// - Ports are added and removed at any time: "ports can be added and removed dynamically
//   as needed" ([HV], the $30 switch comparison).
//
// Hot path: frames are processed in batches; per frame there is no allocation (output
// views go into per-port vectors that keep their capacity, rewritten frames into a chunked
// arena reset per batch) and no virtual call (the transport is a template parameter; each
// output port's transport is called once per batch).
//
// Offloads: send(in, frames, offloads) takes each frame's virtio-net header
// (wire/offload.hpp) as a packet socket with PACKET_VNET_HDR or a TAP with IFF_VNET_HDR
// reads it. GSO super-frames and partial checksums are forwarded as they are, with their
// metadata, to every port whose transport takes them (offload_sink and its
// offload_caps(), port.hpp); for the other ports the switch segments or checksums them in
// software, once per output port, and counts it (port_counters::sw_segmented,
// sw_segments, sw_checksummed), as Linux does in validate_xmit_skb for a device without
// the feature. A frame whose metadata does not match its headers is dropped as
// bad_offload on that port. Without offloads nothing of this runs.
#pragma once

#include <array>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <range/v3/range/concepts.hpp>
#include <range/v3/range/traits.hpp>

#include <vnet/core/mutant.hpp>
#include <vnet/core/bytes.hpp>
#include <vnet/core/error.hpp>
#include <vnet/core/mac.hpp>
#include <vnet/switch/acl.hpp>
#include <vnet/switch/classify.hpp>
#include <vnet/switch/clock.hpp>
#include <vnet/switch/counters.hpp>
#include <vnet/switch/kinds.hpp>
#include <vnet/switch/mac_table.hpp>
#include <vnet/switch/mutant_router.hpp>
#include <vnet/switch/port.hpp>
#include <vnet/switch/vlan_mode.hpp>
#include <vnet/wire/ethernet.hpp>
#include <vnet/wire/offload.hpp>
#include <vnet/wire/vlan.hpp>

namespace vnet::sw {

/// A batch: any range-v3 / std input range whose elements are frames the caller owns for
/// the duration of send(): lvalues convertible to bytes_view, or views such as bytes_view.
template <class R>
concept frame_batch = ranges::input_range<R> && std::convertible_to<ranges::range_reference_t<R>, bytes_view> &&
    (std::is_lvalue_reference_v<ranges::range_reference_t<R>> ||
     std::ranges::borrowed_range<std::remove_cvref_t<ranges::range_reference_t<R>>>);

/// Storage for frames the switch rewrites (VLAN tag added or removed) within one batch.
class frame_arena {
public:
    static constexpr std::size_t chunk_size = 64 * 1024;

    bytes_span allocate(std::size_t n) {
        if (n > chunk_size) {
            large_.push_back(std::make_unique<std::byte[]>(n));
            return {large_.back().get(), n};
        }
        if (chunks_.empty() || used_ + n > chunk_size) {
            if (!chunks_.empty()) ++chunk_;
            if (chunk_ == chunks_.size()) chunks_.push_back(std::make_unique<std::byte[]>(chunk_size));
            used_ = 0;
        }
        bytes_span s{chunks_[chunk_].get() + used_, n};
        used_ += n;
        return s;
    }
    void reset() noexcept {
        chunk_ = 0;
        used_ = 0;
        large_.clear();
    }

private:
    std::vector<std::unique_ptr<std::byte[]>> chunks_;
    std::vector<std::unique_ptr<std::byte[]>> large_;
    std::size_t chunk_ = 0;
    std::size_t used_ = 0;
};

template <frame_sink Transport, clock_source Clock = steady_clock_source>
class vswitch {
public:
    using transport_type = Transport;
    using clock_type = Clock;

    explicit vswitch(switch_spec spec, Clock clock = Clock{}, mac_table_config table = {})
            : spec_(std::move(spec)), clock_(std::move(clock)), table_(table) {}

    vswitch(const vswitch&) = delete;
    vswitch& operator=(const vswitch&) = delete;
    vswitch(vswitch&&) noexcept = default;
    vswitch& operator=(vswitch&&) noexcept = default;

    // ---- configuration ----

    const switch_spec& spec() const noexcept { return spec_; }

    /// Changes kind / adapter / allow_management_os. The Default Switch cannot be changed
    /// ([IS] "However"), no switch can become it, and the new kind must admit the ports
    /// the switch has (a Private switch has no host vNIC, only an External switch has an
    /// adapter port; docs/eflow-facts.md "Hyper-V port and switch features").
    result<void> set_spec(switch_spec s) {
        if (spec_.kind == switch_kind::default_switch)
            return fail(layer::vswitch, errc::conflict, "the Default Switch cannot be changed");
        if (s.kind == switch_kind::default_switch)
            return fail(layer::vswitch, errc::conflict, "the Default Switch is created by the host, not by the user");
        for (const auto& p : ports_) {
            if (!p) continue;
            if (p->cfg.role == port_role::external_adapter && s.kind != switch_kind::external)
                return fail(layer::vswitch, errc::conflict, "switch still has a physical adapter port");
            if (p->cfg.role == port_role::host_vnic && !s.has_host_vnic())
                return fail(layer::vswitch, errc::conflict, "switch still has a host vNIC port");
        }
        spec_ = std::move(s);
        return {};
    }

    /// Connects a port. Errors: a second physical adapter, an adapter on a non-External
    /// switch, a host vNIC on a Private switch or on an External switch without
    /// allow_management_os, a second host vNIC, invalid VLAN ids, a private VLAN secondary
    /// already used with another primary or mode.
    result<port_index> add_port(port_config cfg, Transport t) {
        if (auto r = validate(cfg, no_port); !r) return unexpected(r.error());
        port_index id = 0;
        while (id < ports_.size() && ports_[id]) ++id;
        if (id == ports_.size()) ports_.emplace_back();
        ports_[id] = std::make_unique<port_state>();
        auto& p = *ports_[id];
        p.transport.emplace(std::move(t));
        p.cfg = std::move(cfg);
        table_.ensure_port(id);
        register_pvlan(p.cfg.vlan);
        derive(p);
        rebuild_lists();
        return id;
    }

    /// Disconnects a port and forgets what the table learned on it.
    result<void> remove_port(port_index id) {
        if (!has_port(id)) return fail(layer::vswitch, errc::not_found, "port");
        unregister_pvlan(ports_[id]->cfg.vlan);
        table_.flush_port(id);
        ports_[id].reset();
        rebuild_lists();
        return {};
    }

    /// Replaces a port's configuration (Set-VMNetworkAdapter, Set-VMNetworkAdapterVlan,
    /// Add-VMNetworkAdapterAcl, ...). A VLAN change forgets the port's learned MACs.
    result<void> configure(port_index id, port_config cfg) {
        if (!has_port(id)) return fail(layer::vswitch, errc::not_found, "port");
        auto& p = *ports_[id];
        unregister_pvlan(p.cfg.vlan);
        if (auto r = validate(cfg, id); !r) {
            register_pvlan(p.cfg.vlan);
            return r;
        }
        const bool vlan_changed = !same_vlan(p.cfg.vlan, cfg.vlan);
        p.cfg = std::move(cfg);
        register_pvlan(p.cfg.vlan);
        if (vlan_changed) table_.flush_port(id);
        derive(p);
        rebuild_lists();
        return {};
    }

    bool has_port(port_index id) const noexcept { return id < ports_.size() && ports_[id] != nullptr; }
    /// Precondition for the accessors below: has_port(id).
    const port_config& config(port_index id) const noexcept { return ports_[id]->cfg; }
    const port_counters& counters(port_index id) const noexcept { return ports_[id]->ctr; }
    Transport& transport(port_index id) noexcept { return *ports_[id]->transport; }
    const Transport& transport(port_index id) const noexcept { return *ports_[id]->transport; }
    std::size_t port_count() const noexcept { return active_.size(); }
    /// Ids of the connected ports, ascending.
    std::span<const port_index> ports() const noexcept { return active_; }

    void reset_counters() noexcept {
        for (auto& p : ports_)
            if (p) p->ctr = {};
    }

    mac_table& table() noexcept { return table_; }
    const mac_table& table() const noexcept { return table_; }
    Clock& clock() noexcept { return clock_; }

    // ---- datapath ----

    /// Switches a batch of frames received on port `in` and delivers the results: each
    /// output port's transport receives one batch. Frames on an unknown port are ignored.
    /// A transport must not call send() on the same switch from receive().
    template <class R>
    requires frame_batch<R>
    void send(port_index in, R&& frames) {
        if (!has_port(in)) return;
        const std::chrono::nanoseconds now = clock_.now();
        if (now - last_sweep_ >= std::chrono::seconds(1)) {
            table_.expire(now);
            last_sweep_ = now;
        }
        port_state& P = *ports_[in];
        if (offloads_.empty()) {
            for (auto&& fr : frames) process(in, P, bytes_view(fr), now);
        } else {
            std::size_t i = 0;
            for (auto&& fr : frames) {
                work_.off = i < offloads_.size() ? offloads_[i] : wire::offload_info{};
                ++i;
                process(in, P, bytes_view(fr), now);
            }
            work_.off = {};
        }
        flush();
    }

    /// The same with each frame's offload metadata: offloads[i] belongs to the i-th frame
    /// (missing entries: complete frames). See "Offloads" above.
    template <class R>
    requires frame_batch<R>
    void send(port_index in, R&& frames, std::span<const wire::offload_info> offloads) {
        offloads_ = offloads;
        send(in, std::forward<R>(frames));
        offloads_ = {};
    }

    /// One frame.
    void send(port_index in, bytes_view frame) {
        std::array<bytes_view, 1> one{frame};
        send(in, one);
    }

private:
    struct port_state {
        port_config cfg;
        std::optional<Transport> transport;
        port_counters ctr;
        // derived from cfg
        bool check_spoof = false;
        std::uint64_t mac48 = 0;
        bool l3_in = false;  // guards or outbound ACLs need L3 fields of frames it sends
        bool acl_in = false, acl_out = false;
        // storm limit: frames counted in the current 1 s interval
        std::int64_t storm_interval = -1;
        std::uint32_t storm_count = 0;
        // this batch
        std::vector<bytes_view> pending;
        std::vector<wire::offload_info> pending_off;  // parallel to pending, for a batch with offloads
        std::uint64_t stamp = 0;
    };

    enum class frame_class : std::uint8_t { normal, isolated, community };

    // Per-frame work, reused so that nothing is constructed per frame.
    struct frame_work {
        bytes_view f;
        l2_info l2;
        std::uint16_t domain = 0;  // the VLAN the frame is switched in (a PVLAN's primary)
        std::uint16_t vid = 0;     // the VLAN id it carries on trunks (a PVLAN's secondary)
        frame_class cls = frame_class::normal;
        bool have_l3 = false;
        flow_key key;
        bytes_view as_untagged, as_tagged;
        bool have_untagged = false, have_tagged = false;
        wire::offload_info off{};  // the frame's offload metadata (send with offloads)
    };

    // ---- configuration helpers ----

    result<void> validate(const port_config& c, port_index self) const {
        if (auto r = c.vlan.validate(); !r) return r;
        for (port_index i = 0; i < ports_.size(); ++i) {
            if (i == self || !ports_[i]) continue;
            const auto role = ports_[i]->cfg.role;
            if (c.role == port_role::external_adapter && role == port_role::external_adapter)
                return fail(layer::vswitch, errc::conflict, "external switch already bound to adapter");
            if (c.role == port_role::host_vnic && role == port_role::host_vnic)
                return fail(layer::vswitch, errc::conflict, "switch already has a host vNIC");
        }
        if (c.role == port_role::external_adapter && spec_.kind != switch_kind::external)
            return fail(layer::vswitch, errc::conflict, "only an external switch has a physical adapter port");
        if (c.role == port_role::host_vnic) {
            if (spec_.kind == switch_kind::private_)
                return fail(layer::vswitch, errc::conflict, "a private switch has no host vNIC");
            if (spec_.kind == switch_kind::external && !spec_.allow_management_os)
                return fail(layer::vswitch, errc::conflict, "external switch does not share its adapter with the management OS");
        }
        if (c.vlan.mode == vlan_mode::pvlan && c.vlan.pv != pvlan_mode::promiscuous) {
            const auto s = c.vlan.secondary_vid;
            const auto k = c.vlan.pv == pvlan_mode::isolated ? frame_class::isolated : frame_class::community;
            if (pvlan_refs_[s] != 0 && (pvlan_primary_[s] != c.vlan.primary_vid || pvlan_class_[s] != k))
                return fail(layer::vswitch, errc::conflict,
                            "private VLAN secondary id already used with another primary or mode");
            if (pvlan_refs_[c.vlan.primary_vid] != 0)
                return fail(layer::vswitch, errc::conflict, "private VLAN primary id already used as a secondary");
        }
        return {};
    }

    static bool same_vlan(const vlan_setting& a, const vlan_setting& b) noexcept {
        return a.mode == b.mode && a.access_vid == b.access_vid && a.allowed == b.allowed && a.native_vid == b.native_vid &&
               a.pv == b.pv && a.primary_vid == b.primary_vid && a.secondary_vid == b.secondary_vid;
    }

    void register_pvlan(const vlan_setting& v) noexcept {
        if (v.mode != vlan_mode::pvlan || v.pv == pvlan_mode::promiscuous) return;
        const auto s = v.secondary_vid;
        ++pvlan_refs_[s];
        pvlan_primary_[s] = v.primary_vid;
        pvlan_class_[s] = v.pv == pvlan_mode::isolated ? frame_class::isolated : frame_class::community;
    }
    void unregister_pvlan(const vlan_setting& v) noexcept {
        if (v.mode != vlan_mode::pvlan || v.pv == pvlan_mode::promiscuous) return;
        const auto s = v.secondary_vid;
        if (pvlan_refs_[s] > 0 && --pvlan_refs_[s] == 0) {
            pvlan_primary_[s] = 0;
            pvlan_class_[s] = frame_class::normal;
        }
    }

    static void derive(port_state& p) noexcept {
        // MAC address spoofing applies to VM adapters with an assigned MAC (docs/eflow-facts.md
        // "Hyper-V port and switch features": off means only the assigned MAC may send).
        p.check_spoof = p.cfg.role == port_role::vm && p.cfg.mac && !p.cfg.mac_spoofing &&
                        !mutant::on(mutant::id::switch_allows_spoofing);
        p.mac48 = p.cfg.mac ? p.cfg.mac->to_u64() : 0;
        p.acl_out = p.cfg.acls.applies(acl_direction::outbound);
        p.acl_in = p.cfg.acls.applies(acl_direction::inbound);
        p.l3_in = p.cfg.dhcp_guard || p.cfg.router_guard || p.acl_out;
        p.storm_interval = -1;
        p.storm_count = 0;
    }

    void rebuild_lists() {
        active_.clear();
        mirror_dests_.clear();
        for (port_index i = 0; i < ports_.size(); ++i) {
            if (!ports_[i]) continue;
            active_.push_back(i);
            if (ports_[i]->cfg.mirror == mirror_mode::destination) mirror_dests_.push_back(i);
        }
        touched_.reserve(active_.size());
    }

    // ---- datapath helpers ----

    // The VLAN a frame belongs to on ingress, per the port's mode (vlan_mode.hpp); false
    // when the port does not accept it.
    bool ingress_vlan(const port_state& P, frame_work& w) const noexcept {
        const l2_info& l2 = w.l2;
        const bool has_vid = l2.tagged && l2.vid != 0;  // priority-tagged counts as untagged
        const vlan_setting& v = P.cfg.vlan;
        w.cls = frame_class::normal;
        switch (v.mode) {
            case vlan_mode::untagged:
                if (has_vid) return false;
                w.domain = w.vid = 0;
                return true;
            case vlan_mode::access:
                if (has_vid) return false;
                w.domain = w.vid = v.access_vid;
                return true;
            case vlan_mode::trunk: {
                const std::uint16_t t = has_vid ? l2.vid : v.native_vid;
                if (has_vid && t != v.native_vid && !v.allowed.test(t)) return false;
                w.vid = t;
                w.domain = t;
                if (t != 0 && pvlan_refs_[t] != 0) {
                    w.domain = pvlan_primary_[t];
                    w.cls = pvlan_class_[t];
                }
                return true;
            }
            case vlan_mode::pvlan:
                if (has_vid) return false;
                w.domain = v.primary_vid;
                if (v.pv == pvlan_mode::promiscuous) {
                    w.vid = v.primary_vid;
                } else {
                    w.vid = v.secondary_vid;
                    w.cls = v.pv == pvlan_mode::isolated ? frame_class::isolated : frame_class::community;
                }
                return true;
        }
        return false;
    }

    // Whether port Q may receive the frame and in which form (tagged with w.vid or not).
    static bool egress_vlan(const port_state& Q, const frame_work& w, bool& tagged) noexcept {
        const vlan_setting& v = Q.cfg.vlan;
        tagged = false;
        if (mutant::on(mutant::id::switch_ignores_vlans)) return true;
        switch (v.mode) {
            case vlan_mode::untagged: return w.domain == 0;
            case vlan_mode::access: return w.domain == v.access_vid;
            case vlan_mode::trunk:
                if (w.vid == v.native_vid) return true;
                if (mutant::on(mutant::id::uplink_strips_tags) && Q.cfg.role == port_role::external_adapter) return true;
                if (w.vid != 0 && v.allowed.test(w.vid)) {
                    tagged = true;
                    return true;
                }
                return false;
            case vlan_mode::pvlan:
                if (w.domain != v.primary_vid) return false;
                switch (w.cls) {
                    case frame_class::normal: return true;
                    case frame_class::isolated: return v.pv == pvlan_mode::promiscuous;
                    case frame_class::community:
                        return v.pv == pvlan_mode::promiscuous || (v.pv == pvlan_mode::community && v.secondary_vid == w.vid);
                }
                return false;
        }
        return false;
    }

    const flow_key& l3(frame_work& w) noexcept {
        if (!w.have_l3) {
            w.key = classify_l3(w.f, w.l2);
            w.have_l3 = true;
        }
        return w.key;
    }

    // The frame as port Q gets it: as received when the form matches, else rewritten once
    // per frame into the arena and shared by every port that wants that form.
    bytes_view output_form(frame_work& w, bool tagged) {
        const l2_info& l2 = w.l2;
        if (!tagged) {
            if (!l2.tagged) return w.f;
            if (!w.have_untagged) {
                auto out = arena_.allocate(w.f.size() - wire::vlan_tag::size);
                store_bytes(out, 0, w.f.first(12));
                store_bytes(out, 12, w.f.subspan(16));
                w.as_untagged = out;
                w.have_untagged = true;
            }
            return w.as_untagged;
        }
        if (l2.tagged && l2.vid == w.vid) return w.f;
        if (!w.have_tagged) {
            if (l2.tagged) {  // another VID (or a priority tag): rewrite the VID, keep PCP / DEI
                auto out = arena_.allocate(w.f.size());
                store_bytes(out, 0, w.f);
                const auto tci = static_cast<std::uint16_t>((load_be16(w.f, 14) & 0xf000) | w.vid);
                store_be16(out, 14, tci);
                w.as_tagged = out;
            } else {
                auto out = arena_.allocate(w.f.size() + wire::vlan_tag::size);
                store_bytes(out, 0, w.f.first(12));
                wire::vlan_tag{wire::ethertype::vlan, 0, false, w.vid}.store(out, 12);
                store_bytes(out, 16, w.f.subspan(12));
                w.as_tagged = out;
            }
            w.have_tagged = true;
        }
        return w.as_tagged;
    }

    void push(port_index q, port_state& Q, bytes_view out, const wire::offload_info& off) {
        push(q, Q, out);
        if (!offloads_.empty()) Q.pending_off.push_back(off);
    }
    void push(port_index q, port_state& Q, bytes_view out) {
        if (Q.pending.empty()) touched_.push_back(q);
        Q.pending.push_back(out);
        Q.stamp = seq_;
        ++Q.ctr.tx_frames;
        Q.ctr.tx_bytes += out.size();
    }

    // Port mirroring: copies of what a source port sends or receives go to every
    // destination port of the switch (docs/eflow-facts.md "Hyper-V port and switch features",
    // PortMirroring None|Source|Destination, same switch), once per frame.
    void mirror(port_index in, port_index src, bytes_view v, const wire::offload_info& off) {
        for (port_index d : mirror_dests_) {
            if (d == in || d == src) continue;
            port_state& D = *ports_[d];
            if (D.stamp == seq_) continue;
            push(d, D, v, off);
            ++D.ctr.mirrored;
        }
    }

    // Delivers towards port q; false when q does not get it.
    bool deliver(port_index in, port_index q, port_state& Q, frame_work& w, bool flooding) {
        if (mutant::on(mutant::id::switch_vepa) && spec_.kind == switch_kind::external && ports_[in]->cfg.role == port_role::vm &&
            Q.cfg.role == port_role::vm)
            return false;  // like a VEPA bridge: VM frames go up the uplink only
        bool tagged = false;
        if (!egress_vlan(Q, w, tagged)) {
            if (!flooding) Q.ctr.count_drop(drop_reason::vlan_filter);
            return false;
        }
        if (Q.acl_in && Q.cfg.acls.evaluate(l3(w), acl_direction::inbound) == acl_action::deny) {
            Q.ctr.count_drop(drop_reason::acl_deny);
            return false;
        }
        const bytes_view out = output_form(w, tagged);
        push(q, Q, out);
        wire::offload_info off{};
        if (!offloads_.empty()) {  // a pushed or popped tag moves the offsets of the frame's offload
            off = w.off.complete() ? w.off : w.off.shifted(static_cast<int>(out.size()) - static_cast<int>(w.f.size()));
            Q.pending_off.push_back(off);
        }
        if (Q.cfg.mirror == mirror_mode::source && !mirror_dests_.empty()) mirror(in, q, out, off);
        return true;
    }

    void process(port_index in, port_state& P, bytes_view f, std::chrono::nanoseconds now) {
        ++P.ctr.rx_frames;
        P.ctr.rx_bytes += f.size();
        frame_work& w = work_;
        w.f = f;
        w.have_l3 = w.have_untagged = w.have_tagged = false;
        if (!classify_l2(f, w.l2)) {
            P.ctr.count_drop(drop_reason::malformed);
            return;
        }
        if (!ingress_vlan(P, w)) {
            P.ctr.count_drop(drop_reason::vlan_filter);
            return;
        }
        if (P.check_spoof && w.l2.src != P.mac48) {
            P.ctr.count_drop(drop_reason::spoofed_source);
            return;
        }
        if (mutant::on(mutant::id::switch_routes_subnets)) {
            auto o = router_.handle(w.f, [this](std::size_t n) { return arena_.allocate(n); });
            if (o.what == mutant_router::action::reply) {
                push(in, P, o.frame, {});
                return;
            }
            if (o.what == mutant_router::action::replace) {
                w.off = {};
                if (!classify_l2(w.f = o.frame, w.l2)) return;
            }
        }
        if (P.l3_in) {
            const flow_key& k = l3(w);
            if (P.cfg.dhcp_guard && k.is_dhcp_server()) {
                P.ctr.count_drop(drop_reason::dhcp_guard);
                return;
            }
            if (P.cfg.router_guard && k.is_router_message()) {
                P.ctr.count_drop(drop_reason::router_guard);
                return;
            }
            if (P.acl_out && P.cfg.acls.evaluate(k, acl_direction::outbound) == acl_action::deny) {
                P.ctr.count_drop(drop_reason::acl_deny);
                return;
            }
        }
        // Learning: (VLAN, source) -> input port; group sources are never learned (Open
        // vSwitch mac-learning; a multicast source is not a station).
        if (!w.l2.src_is_group() && !mutant::on(mutant::id::switch_never_learns)) {
            if (table_.learn(mac_key(w.domain, w.l2.src), in, now) == learn_outcome::refused) {
                P.ctr.count_drop(drop_reason::table_full);
                return;
            }
        }
        ++seq_;
        P.stamp = seq_;  // never mirrored back to itself
        const bool mirror_rx = P.cfg.mirror == mirror_mode::source && !mirror_dests_.empty();
        if (!w.l2.dst_is_group() && !mutant::on(mutant::id::switch_floods_unicast)) {
            const port_index q = table_.lookup(mac_key(w.domain, w.l2.dst), now);
            if (q != no_port) {
                if (q == in) {
                    P.ctr.count_drop(drop_reason::reflect);
                    return;
                }
                deliver(in, q, *ports_[q], w, false);
                if (mirror_rx) mirror(in, in, f, w.off);
                return;
            }
        }
        // Broadcast, multicast and unknown unicast: storm limit, then flood.
        if (P.cfg.storm_limit != 0) {
            const std::int64_t interval = now.count() / 1'000'000'000;
            if (interval != P.storm_interval) {
                P.storm_interval = interval;
                P.storm_count = 0;
            }
            if (P.storm_count >= P.cfg.storm_limit) {
                P.ctr.count_drop(drop_reason::storm_limit);
                return;
            }
            ++P.storm_count;
        }
        ++P.ctr.flooded;
        if (!w.l2.dst_is_group()) ++P.ctr.flooded_unknown;
        for (port_index q : active_) {
            if (q == in) continue;
            deliver(in, q, *ports_[q], w, true);
        }
        if (mirror_rx) mirror(in, in, f, w.off);
    }

    void flush() {
        for (port_index q : touched_) {
            port_state& Q = *ports_[q];
            if (Q.pending_off.empty()) Q.transport->receive(std::span<const bytes_view>(Q.pending));
            else deliver_offloaded(Q);
            Q.pending.clear();
            Q.pending_off.clear();
        }
        touched_.clear();
        arena_.reset();
    }

    // A port's batch of a send with offloads: what its transport takes goes as it is, the
    // rest is finished in software first.
    void deliver_offloaded(port_state& Q) {
        std::uint32_t caps = 0;
        if constexpr (offload_sink<Transport>) caps = Q.transport->offload_caps();
        const auto taken = [caps](const wire::offload_info& o) { return (o.needs() & ~caps) == 0; };
        std::span<const bytes_view> frames(Q.pending);
        std::span<const wire::offload_info> offs(Q.pending_off);
        bool all_taken = true;
        for (const auto& o : Q.pending_off) all_taken = all_taken && taken(o);
        if (!all_taken) {
            done_frames_.clear();
            done_off_.clear();
            for (std::size_t i = 0; i < Q.pending.size(); ++i) {
                const wire::offload_info& o = Q.pending_off[i];
                if (taken(o)) {
                    done_frames_.push_back(Q.pending[i]);
                    done_off_.push_back(o);
                    continue;
                }
                const std::size_t before = done_frames_.size();
                auto n = wire::segment(
                    Q.pending[i], o, [this](std::size_t len) { return arena_.allocate(len); },
                    [this](bytes_view s) {
                        done_frames_.push_back(s);
                        done_off_.push_back({});
                    });
                if (!n) {
                    done_frames_.resize(before);
                    done_off_.resize(before);
                    Q.ctr.count_drop(drop_reason::bad_offload);
                } else if (o.gso() != wire::gso_kind::none) {
                    ++Q.ctr.sw_segmented;
                    Q.ctr.sw_segments += *n;
                } else {
                    ++Q.ctr.sw_checksummed;
                }
            }
            frames = done_frames_;
            offs = done_off_;
        }
        if constexpr (offload_sink<Transport>) Q.transport->receive(frames, offs);
        else Q.transport->receive(frames);
    }

    switch_spec spec_;
    Clock clock_;
    mac_table table_;
    std::vector<std::unique_ptr<port_state>> ports_;
    std::vector<port_index> active_;
    std::vector<port_index> mirror_dests_;
    std::vector<port_index> touched_;
    frame_arena arena_;
    frame_work work_;
    std::span<const wire::offload_info> offloads_;  // the batch's metadata, during send with offloads
    std::vector<bytes_view> done_frames_;           // a port's batch after software offload work
    std::vector<wire::offload_info> done_off_;
    std::uint64_t seq_ = 0;
    std::chrono::nanoseconds last_sweep_{0};
    std::array<std::uint16_t, 4096> pvlan_refs_{};
    std::array<std::uint16_t, 4096> pvlan_primary_{};
    std::array<frame_class, 4096> pvlan_class_{};
    mutant_router router_;  // used only by mutant switch-routes-subnets
};

}  // namespace vnet::sw

/// One line per port: "<id> <name> (<role>, <vlan mode>): <counters>".
template <vnet::sw::frame_sink T, vnet::sw::clock_source C>
struct fmt::formatter<vnet::sw::vswitch<T, C>> {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Ctx>
    auto format(const vnet::sw::vswitch<T, C>& s, Ctx& ctx) const {
        auto out = fmt::format_to(ctx.out(), "switch {} ({})\n", s.spec().name, vnet::sw::to_string(s.spec().kind));
        for (auto id : s.ports()) {
            const auto& c = s.config(id);
            out = fmt::format_to(out, "{:>4} {} ({}, {}): {}\n", id, c.name, vnet::sw::to_string(c.role),
                                 vnet::sw::to_string(c.vlan.mode), s.counters(id));
        }
        return out;
    }
};
