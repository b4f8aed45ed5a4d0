// vnet diag FILE.toml --vm NAME: build the lab, run the troubleshooting guide's checks on
// one VM ([TS]: IP addresses configuration, then DNS, then firewall) and name the
// first failing component with the guide's remedy (vnet/lab/diagnosis.hpp).
//
// The lab file's own [[check]]s are not run: the diagnosis runs its own. Exit status: 0
// no component fails, 1 a component fails (or the lab could not run), 2 bad input.
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <vnet/lab/conformance.hpp>
#include <vnet/lab/diagnosis.hpp>
#include <vnet/lab/lab_file.hpp>
#include <vnet/lab/runtime.hpp>

#include "commands.hpp"

namespace vnet::cli {

int run_diag(const diag_options& o) {
    auto lf = lab::load_lab(o.file);
    if (!lf) return report_error("diag", lf.error().to_string());
    auto plan = lab::plan_diagnosis(*lf, o.vm);
    if (!plan) return report_error("diag", plan.error());
    lab::lab_file run = *lf;
    run.checks.clear();
    for (const auto& c : plan->checks) run.checks.push_back(c.check);
    if (auto u = lab::unsupported_by_runtime(run)) return report_error("diag", u->to_string());

    auto executor = make_runtime_executor(o.boot_timeout, o.verbose);
    lab::exec_options eo;
    eo.report_dir = o.report_dir;
    auto ex = executor->run(run, eo);
    if (!ex.error.empty()) return report_error("diag", ex.error, exit_check_failed);

    std::vector<lab::observed_check> oc;
    fmt::print("vnet diag {} --vm {} ({} switch, {})\n", o.file, o.vm, eflow::to_string(plan->sw),
               plan->mode == eflow::ip_mode::static_ip ? "static IP" : "DHCP");
    for (std::size_t i = 0; i < plan->checks.size(); ++i) {
        const auto& c = plan->checks[i];
        lab::observed_check one;
        if (i < ex.checks.size())
            one = {ex.checks[i].implemented && ex.checks[i].observed != "error", ex.checks[i].observed == "ok",
                   ex.checks[i].detail};
        oc.push_back(one);
        std::string what(lab::to_string(c.role));
        if (c.role == lab::diag_role::outbound_port) what += fmt::format(" {}", c.port);
        fmt::print("  {:<28} {:<5} {} (observed on the VM)\n", what, !one.ran ? "-" : one.ok ? "yes" : "no", one.detail);
    }
    if (plan->address_free)
        fmt::print("  {:<28} {:<5} {} ({})\n", "address free", plan->address_free->value ? "yes" : "no",
                   plan->address_free->detail, lab::to_string(plan->address_free->source));
    if (plan->dns_configured)
        fmt::print("  {:<28} {:<5} {} ({})\n", "DNS server configured", plan->dns_configured->value ? "yes" : "no",
                   plan->dns_configured->detail, lab::to_string(plan->dns_configured->source));
    auto d = lab::diagnose(lab::observe(*plan, oc));
    if (d.component == lab::net_component::none) {
        fmt::print("diagnosis: no failing component ({})\n", d.finding);
        return exit_ok;
    }
    fmt::print("diagnosis: {} - {} [{}; {}]\nremedy ({}): {}\n", lab::to_string(d.component), d.finding, d.step,
               lab::to_string(d.decided_by), d.source, d.remedy);
    return exit_check_failed;
}

}  // namespace vnet::cli
