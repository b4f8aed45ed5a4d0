// vnet/lab/conformance/evaluate.hpp - evaluating a conformance row: its VM cells from the executed lab,
// the others by the model
// (the whole: vnet/lab/conformance.hpp).
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <toml++/toml.h>

#include <vnet/core/expected.hpp>
#include <vnet/core/ipv4.hpp>
#include <vnet/eflow/deploy.hpp>
#include <vnet/eflow/dns_settings.hpp>
#include <vnet/eflow/route_metrics.hpp>
#include <vnet/eflow/support_matrix.hpp>
#include <vnet/lab/diagnosis.hpp>
#include <vnet/lab/lab_file.hpp>
#include <vnet/lab/plan.hpp>
#include <vnet/switch/kinds.hpp>
#include <vnet/lab/conformance/load.hpp>
#include <vnet/lab/conformance/table.hpp>

namespace vnet::lab {

// ======================================================================================
// Evaluation
// ======================================================================================

namespace detail {

/// Runs a switch_op script on a fresh registry with adapters "Ethernet" and "Ethernet2".
/// Steps separated by ';': create NAME KIND [ADAPTER] | remove NAME | set-adapter NAME
/// ADAPTER | set-kind NAME KIND | vnic NAME. Names with blanks in double quotes. The
/// result: "ok", the first error, or the last vnic step's answer.
inline std::string run_switch_ops(std::string_view script) {
    sw::switch_registry reg;
    (void)reg.add_adapter({"Ethernet", mac_address{}, std::nullopt, std::nullopt});
    (void)reg.add_adapter({"Ethernet2", mac_address{}, std::nullopt, std::nullopt});
    auto kind_of = [](std::string_view k) -> std::optional<sw::switch_kind> {
        if (k == "external") return sw::switch_kind::external;
        if (k == "internal") return sw::switch_kind::internal;
        if (k == "private") return sw::switch_kind::private_;
        if (k == "default") return sw::switch_kind::default_switch;
        return std::nullopt;
    };
    std::string answer = "ok";
    std::size_t pos = 0;
    while (pos <= script.size()) {
        auto end = script.find(';', pos);
        std::string_view step = script.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
        pos = end == std::string_view::npos ? script.size() + 1 : end + 1;
        std::vector<std::string> w;
        for (std::size_t i = 0; i < step.size();) {
            if (step[i] == ' ') {
                ++i;
                continue;
            }
            if (step[i] == '"') {
                auto q = step.find('"', i + 1);
                if (q == std::string_view::npos) return fmt::format("bad step '{}': unclosed quote", step);
                w.emplace_back(step.substr(i + 1, q - i - 1));
                i = q + 1;
            } else {
                auto e = step.find(' ', i);
                w.emplace_back(step.substr(i, e == std::string_view::npos ? std::string_view::npos : e - i));
                i = e == std::string_view::npos ? step.size() : e;
            }
        }
        if (w.empty()) continue;
        result<void> r{};
        if (w[0] == "create" && (w.size() == 3 || w.size() == 4) && kind_of(w[2])) {
            sw::switch_spec spec{w[1], *kind_of(w[2]), w.size() == 4 ? w[3] : std::string(), false};
            r = reg.create(spec);
        } else if (w[0] == "remove" && w.size() == 2) {
            r = reg.remove(w[1]);
        } else if (w[0] == "set-adapter" && w.size() == 3) {
            r = reg.set_adapter(w[1], w[2], false);
        } else if (w[0] == "set-kind" && w.size() == 3 && kind_of(w[2])) {
            r = reg.set_kind(w[1], *kind_of(w[2]));
        } else if (w[0] == "vnic" && w.size() == 2) {
            const auto* v = reg.vnic(w[1]);
            answer = v ? v->name : "none";
            continue;
        } else {
            return fmt::format("bad step '{}'", step);
        }
        if (!r) return r.error().message();
        answer = "ok";
    }
    return answer;
}

inline std::string join_addresses(const std::vector<ipv4_address>& v) {
    if (v.empty()) return "none";
    return fmt::format("{}", fmt::join(v, " "));
}

/// The DNS servers a guest uses (the resolvers check: "a, b" or "none") in the words of the
/// table's dns_servers cells, from what the lab offered VM `vm`'s eth0: "from the DHCP
/// lease" when its NIC was given no servers and they are those of the DHCP server on its
/// network, "the Default Switch's DNS proxy" when they are the Default Switch's host
/// address (its ICS), else the addresses ("a b") or "none". `why` says what they matched.
inline std::string resolvers_in_table_terms(const lab_file& lf, std::string_view vm, std::string_view observed,
                                            std::string& why) {
    std::vector<ipv4_address> seen;
    bool parsed = true;
    if (observed != "none") {
        std::string_view rest = observed;
        while (!rest.empty()) {
            const auto comma = std::min(rest.find(','), rest.size());
            auto word = rest.substr(0, comma);
            while (!word.empty() && word.front() == ' ') word.remove_prefix(1);
            if (auto a = ipv4_address::parse(word)) seen.push_back(*a);
            else parsed = false;
            rest.remove_prefix(std::min(comma + 1, rest.size()));
        }
    }
    if (!parsed) {
        why = "the guest lists a server that is not an IPv4 address";
        return std::string(observed);
    }
    const vm_config* v = lf.find_vm(vm);
    const nic_config* nic = v && !v->nics.empty() ? &v->nics[0] : nullptr;
    const switch_config* sw = nic ? lf.find_switch(nic->switch_name) : nullptr;
    if (!seen.empty() && nic && nic->dns.empty() && nic->ip == ip_mode::dhcp && sw) {
        std::optional<std::vector<ipv4_address>> lease;
        if (sw->kind == switch_kind::external && sw->network)
            if (const auto* n = lf.find_network(*sw->network); n && n->dhcp) lease = n->dhcp->dns;
        if (sw->kind == switch_kind::internal && sw->dhcp) lease = sw->dhcp->dns;
        if (lease && *lease == seen) {
            why = fmt::format("{}: the DNS servers of the DHCP server on {}", join_addresses(seen), sw->name);
            return "from the DHCP lease";
        }
        if (sw->kind == switch_kind::default_switch)
            if (auto subnet = pick_default_switch_subnet(prefixes_in_use(lf));
                subnet && seen == std::vector<ipv4_address>{default_switch_host_address(*subnet).address()}) {
                why = fmt::format("{}: the Default Switch's host address (ICS)", join_addresses(seen));
                return "the Default Switch's DNS proxy";
            }
    }
    why = seen.empty() ? "no nameserver in the guest" : fmt::format("{} in the guest", join_addresses(seen));
    return join_addresses(seen);
}

}  // namespace detail

/// The row's diagnosis: from given observations (model) or from its executed checks.
inline diagnosis row_diagnosis(const row_spec& r, const execution* ex) {
    if (r.given) return diagnose(*r.given);
    std::vector<observed_check> oc;
    for (std::size_t i = 0; i < r.diag_plan->checks.size(); ++i) {
        std::size_t k = r.diag_first_check + i;
        if (ex && k < ex->checks.size() && ex->checks[k].implemented && ex->checks[k].observed != "error")
            oc.push_back({true, ex->checks[k].observed == "ok", ex->checks[k].detail});
        else oc.push_back({});
    }
    return diagnose(observe(*r.diag_plan, oc));
}

/// The deploy cell of a row whose address and gateway were ARP-probed on its lab: the
/// deploy command validated again, the probe answers being what the lab observed.
inline void deploy_on_lab(const row_spec& r, const std::optional<execution>& ex, cell_result& c) {
    if (!ex || !ex->error.empty()) {
        c.status = cell_status::error;
        c.observed = "error";
        c.detail = ex ? ex->error : "not run";
        return;
    }
    std::string probes;
    for (const auto& [a, idx] : r.probe_checks) {
        if (idx >= ex->checks.size() || !ex->checks[idx].implemented) {
            c.status = cell_status::missing;
            c.detail = fmt::format("the lab returned no ARP probe outcome for {}", a);
            return;
        }
        if (ex->checks[idx].observed == "error") {
            c.status = cell_status::error;
            c.observed = "error";
            c.detail = fmt::format("the ARP probe for {} could not be carried out: {}", a, ex->checks[idx].detail);
            return;
        }
        probes += fmt::format("{}{}", probes.empty() ? "" : "; ", ex->checks[idx].detail);
    }
    eflow::network_probe probe{[&](ipv4_address a) {
        for (const auto& [pa, idx] : r.probe_checks)
            if (pa == a) return ex->checks[idx].observed == "ok";
        return false;
    }};
    const auto rv = eflow::validate_deploy(*r.deploy_options, *r.deploy_host, probe);
    c.origin = cell_origin::lab;  // the model's validation fed with what the probes observed
    if (!rv.report.ok()) {
        c.observed = rv.report.error->message;
        c.detail = fmt::format("rule {}; ARP probes on the lab network: {}", eflow::to_string(rv.report.error->rule), probes);
    } else {
        c.observed = "ok";
        c.detail = fmt::format("{}; ARP probes on the lab network: {}", *rv.plan, probes);
    }
}

/// What the cells of one row are evaluated from: the row, its lab's execution (VM rows)
/// and the deploy plan; the diagnosis once computed.
struct row_context {
    const row_spec& r;
    const std::optional<execution>& ex;
    const eflow::deploy_plan* plan = nullptr;
    std::optional<diagnosis> diag;

    /// A cell observed by the row's [[check]] number idx (or missing / error, and why).
    void vm_outcome(std::size_t idx, cell_result& c) const {
        if (!r.deployed()) {
            c.origin = cell_origin::model;
            c.observed = "fail";
            c.detail = fmt::format("nothing deployed: {}", r.deploy->report.error->message);
            return;
        }
        if (!r.missing_reason.empty()) {
            c.status = cell_status::missing;
            c.detail = r.missing_reason;
            return;
        }
        if (!ex || !ex->error.empty()) {
            c.status = cell_status::error;
            c.observed = "error";
            c.detail = ex ? ex->error : "not run";
            return;
        }
        if (idx >= ex->checks.size() || !ex->checks[idx].implemented) {
            c.status = cell_status::missing;
            c.detail = idx < ex->checks.size() ? ex->checks[idx].detail : "the executor returned no outcome for this check";
            return;
        }
        const check_outcome& o = ex->checks[idx];
        if (o.observed == "error") {  // not carried out: nothing observed, never a "fail"
            c.status = cell_status::error;
            c.observed = "error";
            c.detail = o.detail;
            return;
        }
        c.origin = o.in_guest ? cell_origin::guest : cell_origin::lab;
        c.observed = o.observed;
        c.detail = o.detail;
    }
    static bool observed(const cell_result& c) { return c.origin == cell_origin::guest || c.origin == cell_origin::lab; }
};

/// The VM cells: the outcome of the cell's own [[check]].
inline void eval_check(row_context& x, const cell_spec& cs, cell_result& c) { x.vm_outcome(*cs.check_index, c); }

/// deploy: on the lab (ARP probes, the DHCP lease) when the row has them, else the model.
inline void eval_deploy(row_context& x, const cell_spec&, cell_result& c) {
    if (!x.r.probe_checks.empty()) {
        deploy_on_lab(x.r, x.ex, c);
        if (x.observed(c) && c.observed == "ok" && x.r.lease_check) {
            x.vm_outcome(*x.r.lease_check, c);
            if (x.observed(c) && c.observed != "ok")
                c.observed = fmt::format("Error: no DHCP lease on {}: the VM has no IP address", x.plan->switch_name);
        }
    } else if (!x.r.deploy->report.ok()) {
        c.origin = cell_origin::model;
        c.observed = x.r.deploy->report.error->message;
        c.detail = fmt::format("rule {}", eflow::to_string(x.r.deploy->report.error->rule));
    } else if (x.r.lease_check) {
        // DHCP: Deploy-Eflow fails when the VM gets no address ([NW] "DHCP").
        x.vm_outcome(*x.r.lease_check, c);
        if (x.observed(c) && c.observed != "ok")
            c.observed = fmt::format("Error: no DHCP lease on {}: the VM has no IP address", x.plan->switch_name);
    } else {
        c.origin = cell_origin::model;
        c.observed = "ok";
        c.detail = fmt::format("{}", *x.plan);
    }
}

/// support, ip_support: the support matrix (model).
inline void eval_support(row_context& x, const cell_spec& cs, cell_result& c) {
    c.origin = cell_origin::model;
    auto o = eflow::deploy_options::parse(*x.r.deploy_command);
    std::optional<eflow::switch_type> ty;
    if (o && !o->vswitch_name && !o->vswitch_type) ty = eflow::switch_type::default_switch;
    else if (o && o->vswitch_type) ty = eflow::parse_switch_type(*o->vswitch_type);
    if (!ty) {
        c.observed = "fail";
        c.detail = "not a switch type of the support matrix";
        return;
    }
    const auto sku = x.r.sku == host_sku::client ? eflow::host_sku::client : eflow::host_sku::server;
    const auto mode = o->any_static() ? eflow::ip_mode::static_ip : eflow::ip_mode::dhcp;
    bool ok = cs.kind == cell_kind::support ? eflow::switch_supported(*ty, sku) : eflow::ip_mode_supported(*ty, mode);
    c.observed = ok ? "ok" : "fail";
    c.detail = std::string(cs.kind == cell_kind::support ? eflow::support_for(*ty).sku_source
                                                         : eflow::support_for(*ty).ip_source);
    return;
}

/// default_route: the route model over the row's boots.
inline void eval_default_route(row_context& x, const cell_spec& cs, cell_result& c) {
    c.origin = cell_origin::model;
    const vm_config* vm = x.r.lab.find_vm(x.r.draw_vm);
    if (!vm) {
        c.status = cell_status::missing;
        c.origin = cell_origin::none;
        c.detail = fmt::format("no VM '{}'", x.r.draw_vm);
        return;
    }
    auto nics = detail::table_reader::addressing(*vm);
    std::set<std::string> winners;
    std::string per_boot;
    if (x.r.draw_seed) {
        std::mt19937 gen(static_cast<std::mt19937::result_type>(*x.r.draw_seed));
        for (std::uint32_t b = 0; b < cs.boots; ++b) {
            auto t = eflow::reference_boot(nics, gen);
            const auto* d = t.default_route();
            winners.insert(d ? d->dev : "none");
            if (b < 8) per_boot += fmt::format("{}{}", per_boot.empty() ? "" : " ", d ? d->dev : "none");
        }
        c.detail = fmt::format("reference boot, draw seed {}: {}", *x.r.draw_seed, per_boot);
    } else {
        std::vector<eflow::route_priority> prio;
        for (std::size_t k = 0; k < vm->nics.size(); ++k)
            if (vm->nics[k].metric) prio.push_back({fmt::format("eth{}", k), *vm->nics[k].metric});
        for (std::uint32_t b = 0; b < cs.boots; ++b) {
            auto t = eflow::fixed_boot(nics, prio);
            const auto* d = t.default_route();
            winners.insert(d ? d->dev : "none");
        }
        c.detail = "fixed boot: the priorities set by the user";
    }
    c.observed = winners.size() == 1 ? *winners.begin() : "varies";
    return;
}

/// dns_servers: in a VM row, the servers the guest uses (read in the guest by the row's
/// resolvers check); in a model row, those the deploy plan (and Set-EflowVmDnsServers)
/// give the VM.
inline void eval_dns_servers(row_context& x, const cell_spec& cs, cell_result& c) {
    if (cs.check_index) {
        x.vm_outcome(*cs.check_index, c);
        if (!x.observed(c)) return;
        std::string why;
        c.observed = detail::resolvers_in_table_terms(x.r.lab, "eflow", c.observed, why);
        c.detail = fmt::format("{} ({})", why, c.detail);
        return;
    }
    c.origin = cell_origin::model;
    if (!x.plan) {
        c.observed = "not deployed";
        return;
    }
    std::vector<ipv4_address> servers = x.plan->dns_servers;
    std::string origin(eflow::to_string(x.plan->dns));
    if (x.r.set_dns_command) {
        eflow::dns_settings settings(*x.plan, "eth0");
        if (settings.set_dns_servers_command(*x.r.set_dns_command)) {
            servers = settings.find("eth0")->servers;
            origin = "Set-EflowVmDnsServers";
        }
    }
    c.observed = x.plan->dns == eflow::dns_origin::dhcp_lease && !x.r.set_dns_command       ? "from the DHCP lease"
                 : x.plan->dns == eflow::dns_origin::default_switch && !x.r.set_dns_command ? "the Default Switch's DNS proxy"
                                                                                            : detail::join_addresses(servers);
    c.detail = origin;
    return;
}

/// port_policy: the guide's firewall table (model).
inline void eval_port_policy(row_context&, const cell_spec& cs, cell_result& c) {
    c.origin = cell_origin::model;
    const port_rule* pr = find_port_rule(*cs.port);
    c.observed = !pr ? "not in the guide" : cs.direction == "inbound" ? std::string(pr->inbound) : std::string(pr->outbound);
    if (pr) c.detail = std::string(pr->guidance);
    return;
}

/// diagnosis, remedy: the troubleshooting order over the row's observations.
inline void eval_diagnosis(row_context& x, const cell_spec& cs, cell_result& c) {
    if (x.r.eval == row_eval::vm && (!x.r.missing_reason.empty() || !x.ex || !x.ex->error.empty())) {
        x.vm_outcome(0, c);  // missing or error, as the row's VM part
        return;
    }
    if (x.r.eval == row_eval::vm && x.r.diag_plan && x.ex) {
        // a guide step that could not be carried out leaves the diagnosis unknown
        std::string errors;
        for (std::size_t i = 0; i < x.r.diag_plan->checks.size(); ++i) {
            const std::size_t k = x.r.diag_first_check + i;
            if (k < x.ex->checks.size() && x.ex->checks[k].observed == "error")
                errors += fmt::format("{}check {}: {}", errors.empty() ? "" : "; ", k + 1, x.ex->checks[k].detail);
        }
        if (!errors.empty()) {
            c.status = cell_status::error;
            c.observed = "error";
            c.detail = fmt::format("a step of the troubleshooting order could not be carried out: {}", errors);
            return;
        }
    }
    if (!x.diag) x.diag = row_diagnosis(x.r, x.ex ? &*x.ex : nullptr);
    c.origin = x.r.given
                   ? cell_origin::model
                   : (x.diag->component == net_component::none || x.diag->decided_by == fact_source::vm ? cell_origin::guest
                                                                                                        : cell_origin::model);
    c.observed = cs.kind == cell_kind::diagnosis ? std::string(to_string(x.diag->component)) : x.diag->remedy;
    c.detail = x.diag->component == net_component::none
                   ? x.diag->finding
                   : fmt::format("{}: {}; {}", x.diag->step, x.diag->finding, x.diag->source);
    return;
}

/// switch_op: Hyper-V switch operations on the switch registry (model).
inline void eval_switch_op(row_context&, const cell_spec& cs, cell_result& c) {
    c.origin = cell_origin::model;
    c.observed = detail::run_switch_ops(cs.op);
}

/// One evaluation function per cell kind. A new cell kind: a cell_kind value, one entry
/// here, one function.
struct cell_evaluator {
    cell_kind kind;
    void (*eval)(row_context&, const cell_spec&, cell_result&);
};

inline constexpr std::array<cell_evaluator, 20> cell_evaluators{{
    {cell_kind::ping, eval_check},
    {cell_kind::tcp, eval_check},
    {cell_kind::dns, eval_check},
    {cell_kind::dhcp, eval_check},
    {cell_kind::route, eval_check},
    {cell_kind::mac_after_reboot, eval_check},
    {cell_kind::address_after_reboot, eval_check},
    {cell_kind::flooding, eval_check},
    {cell_kind::metrics, eval_check},
    {cell_kind::link_local, eval_check},
    {cell_kind::address_after_lease_loss, eval_check},
    {cell_kind::deploy, eval_deploy},
    {cell_kind::support, eval_support},
    {cell_kind::ip_support, eval_support},
    {cell_kind::default_route, eval_default_route},
    {cell_kind::dns_servers, eval_dns_servers},
    {cell_kind::port_policy, eval_port_policy},
    {cell_kind::diagnosis, eval_diagnosis},
    {cell_kind::remedy, eval_diagnosis},
    {cell_kind::switch_op, eval_switch_op},
}};

/// Evaluates one row. The executor is called only when the row needs a VM.
inline row_result evaluate_row(const row_spec& r, lab_executor* executor, const exec_options& opt) {
    row_result out;
    out.id = r.id;
    out.source = r.source;
    out.note = r.note;
    out.eval = r.eval;
    out.line = r.line;
    auto t0 = std::chrono::steady_clock::now();
    std::optional<execution> ex;
    if (r.needs_vm()) {
        if (executor) ex = executor->run(r.lab, opt);
        else ex = execution{{}, "no lab executor (VM rows need the lab runtime)"};
    }
    row_context x{r, ex, r.deploy && r.deploy->plan ? &*r.deploy->plan : nullptr, std::nullopt};
    for (const auto& cs : r.cells) {
        cell_result c;
        c.label = cs.label;
        c.expected = cs.expect;
        c.line = cs.line;
        c.status = cell_status::pass;  // decided below unless missing / error
        const cell_evaluator* ev = nullptr;
        for (const auto& e : cell_evaluators)
            if (e.kind == cs.kind) ev = &e;
        if (ev) {
            ev->eval(x, cs, c);
        } else {
            c.status = cell_status::missing;
            c.detail = fmt::format("no evaluation for cell kind {}", to_string(cs.kind));
        }
        if (c.status == cell_status::pass) c.status = c.observed == c.expected ? cell_status::pass : cell_status::mismatch;
        if (c.status == cell_status::missing || c.status == cell_status::error) c.origin = cell_origin::none;
        out.cells.push_back(std::move(c));
    }
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return out;
}

}  // namespace vnet::lab
