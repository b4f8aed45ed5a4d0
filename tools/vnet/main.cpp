// vnet: the command-line front end over vnet/lab and vnet/wire (docs/design.md, "CLI").
#include <exception>
#include <cstdlib>
#include <string>

#include <CLI/CLI.hpp>

#include <vnet/core/mutant.hpp>

#include "commands.hpp"

int main(int argc, char** argv) {
    CLI::App app{"vnet: Hyper-V style virtual networking labs on Linux", "vnet"};
    app.require_subcommand(1);
    app.set_version_flag("--version", "vnet 0.1.0");

    vnet::cli::decode_options dec;
    auto* decode = app.add_subcommand("decode", "Decode a capture: one line per frame, or JSON with --json");
    decode->add_option("FILE", dec.file, "pcap file")->required();
    decode->add_flag("--json", dec.json, "one JSON object per frame");
    decode->add_flag("--compare-tshark", dec.compare_tshark,
                     "decode with tshark too and compare every field both decoders name (exit 1 on a difference)");

    auto* lab = app.add_subcommand("lab", "Lab files: run, keep up, take down, draw the topology");
    lab->require_subcommand(1);
    vnet::cli::graph_options graph;
    auto* lab_graph = lab->add_subcommand("graph", "Print the lab topology as Graphviz dot");
    lab_graph->add_option("FILE", graph.file, "lab file (TOML)")->required();

    vnet::cli::lab_run_options run;
    auto* lab_run = lab->add_subcommand("run", "Build the lab, boot its VMs, run its checks, tear it down");
    lab_run->add_option("FILE", run.file, "lab file (TOML)")->required();
    lab_run->add_flag("--json", run.json, "one JSON object per check");
    lab_run->add_flag("--keep", run.keep, "keep the lab running after the checks (vnet lab down NAME removes it)");
    lab_run->add_option("--report", run.report_dir,
                        "write summary.md, summary.json, serial logs and a pcap per switch port here");
    lab_run->add_option("--parallel", run.parallel, "VMs booting at once (default: the number of cores)");
    lab_run->add_option("--timeout", run.timeout, "seconds for the whole run (default 900)");
    lab_run->add_option("--boot-timeout", run.boot_timeout, "seconds per VM to its guest agent (default 120)");
    lab_run->add_option("--accel", run.accel, "tcg (default) or kvm (used only after a successful probe)")
        ->check(CLI::IsMember({"tcg", "kvm"}));
    vnet::cli::lab_run_options up;
    auto* lab_up = lab->add_subcommand("up", "Build the lab and boot its VMs; keep it running");
    lab_up->add_option("FILE", up.file, "lab file (TOML)")->required();
    lab_up->add_option("--report", up.report_dir, "serial logs and a pcap per switch port here");
    lab_up->add_option("--boot-timeout", up.boot_timeout, "seconds per VM to its guest agent (default 120)");
    vnet::cli::lab_exec_options lexec;
    auto* lab_exec = lab->add_subcommand("exec", "Run a command in a VM of a lab that is up (vnet lab exec NAME VM -- CMD...)");
    lab_exec->add_option("NAME", lexec.name, "the lab's name or its run id")->required();
    lab_exec->add_option("VM", lexec.vm, "the VM")->required();
    lab_exec->add_option("--timeout", lexec.timeout, "seconds (default 60)");
    lab_exec->add_option("CMD", lexec.command, "the command, after --")->required();
    vnet::cli::lab_down_options down;
    auto* lab_down = lab->add_subcommand("down", "Stop a lab kept by lab up / lab run --keep and remove it");
    lab_down->add_option("NAME", down.name, "the lab's name or its run id")->required();

    vnet::cli::conformance_options conf;
    auto* conformance = app.add_subcommand("conformance",
                                           "Run the conformance tables (fixtures/conformance) and report expected vs observed");
    conformance->add_option("--table", conf.table, "only this table (its name)");
    conformance->add_option("--shard", conf.shard, "I/N: only rows k with k mod N = I-1");
    conformance->add_option("--report", conf.report_dir, "write conformance.md, conformance.xml (JUnit) and per-row logs here");
    conformance->add_option("--dir", conf.dir, "the tables' folder (default: <source>/fixtures/conformance)");
    conformance->add_option("--eval", conf.eval, "all (default), model (no VM) or vm rows")
        ->check(CLI::IsMember({"all", "model", "vm"}));
    conformance->add_option("--parallel", conf.parallel, "VM rows at once (default: the number of cores)");
    conformance->add_option("--boot-timeout", conf.boot_timeout, "seconds per VM to its guest agent (default 120)");
    conformance->add_option("--row-timeout", conf.row_timeout, "seconds per VM row (default 600)");
    conformance->add_flag("--verbose", conf.verbose, "progress of every row and lab");
    conformance->add_option("--nic-model", conf.nic_model, "virtio (default) or netvsc: the model of every VM NIC")
        ->check(CLI::IsMember({"virtio", "netvsc"}));
    conformance->add_option("--row", conf.rows, "only this row, as TABLE/ROW (repeatable), e.g. switch-sku/internal-client");
    vnet::cli::conformance_merge_options merge;
    auto* conformance_merge = conformance->add_subcommand(
        "merge", "Join the reports of several --shard runs (their conformance.json) into one report");
    conformance_merge->add_option("SHARD_DIR", merge.shards, "a shard's --report folder (repeat for each shard)")->required();
    conformance_merge->add_option("--report", merge.report_dir, "write the merged report here")->required();
    conformance_merge->add_option("--dir", merge.dir, "the tables' folder, for the topologies (default: as for a run)");
#ifdef VNET_MUTANTS
    std::string mutant_name;
    conformance->add_option("--mutant", mutant_name, "switch on one deliberate defect (fixtures/mutants.toml)")
        ->check([](const std::string& v) {
            return vnet::mutant::parse(v) ? std::string() : std::string("not a mutant of vnet/core/mutant.hpp");
        });
#endif
    vnet::cli::diag_options dg;
    auto* diag = app.add_subcommand("diag", "Troubleshoot a VM of a lab: IP configuration, then DNS, then firewall ([TS])");
    diag->add_option("FILE", dg.file, "lab file (TOML)")->required();
    diag->add_option("--vm", dg.vm, "the VM to diagnose")->required();
    diag->add_option("--report", dg.report_dir, "serial logs and captures here");
    diag->add_option("--boot-timeout", dg.boot_timeout, "seconds per VM to its guest agent (default 120)");
    diag->add_flag("--verbose", dg.verbose, "lab progress on stderr");

    vnet::cli::eflow_options ef;
    auto* eflow = app.add_subcommand("eflow",
                                     "Run an EFLOW host cmdlet against a lab that is up: Get-EflowVmAddr, Get-EflowVmEndpoint, "
                                     "Get-EflowNetwork, Set-EflowVmDnsServers, Connect-EflowVm, Add-EflowNetwork, "
                                     "Add-EflowVmEndpoint, Remove-EflowVmEndpoint, Remove-EflowNetwork");
    eflow->add_option("NAME", ef.name, "the lab's name or its run id")->required();
    eflow->add_option("--vm", ef.vm, "the EFLOW VM (default: the lab's only eflow-profile VM, or its only VM)");
    eflow->add_option("CMDLET", ef.cmdlet, "the cmdlet, followed by its parameters as typed (-vendpointName eth0 ...)")
        ->required();
    eflow->prefix_command();  // the cmdlet's -parameters are its own, not vnet's options

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        return vnet::cli::report_error("usage", e.what());
    }

    try {
        if (decode->parsed()) return dec.compare_tshark ? vnet::cli::run_compare_tshark(dec) : vnet::cli::run_decode(dec);
        if (lab_graph->parsed()) return vnet::cli::run_lab_graph(graph);
        if (lab_run->parsed()) return vnet::cli::run_lab_run(run);
        if (lab_up->parsed()) return vnet::cli::run_lab_up(up);
        if (lab_down->parsed()) return vnet::cli::run_lab_down(down);
        if (lab_exec->parsed()) return vnet::cli::run_lab_exec(lexec);
        if (eflow->parsed()) {
            ef.args = eflow->remaining();
            return vnet::cli::run_eflow(ef);
        }
#ifdef VNET_MUTANTS
        // read once by vnet::mutant::active(), before any lab runs
        if (!mutant_name.empty()) ::setenv("VNET_MUTANT", mutant_name.c_str(), 1);
#endif
        if (conformance_merge->parsed()) return vnet::cli::run_conformance_merge(merge);
        if (conformance->parsed()) return vnet::cli::run_conformance_command(conf);
        if (diag->parsed()) return vnet::cli::run_diag(dg);
    } catch (const std::exception& e) {
        return vnet::cli::report_error("internal error", e.what(), 1);
    }
    return vnet::cli::exit_bad_input;
}
