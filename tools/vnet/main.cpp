// vnet: the command-line front end over vnet/lab and vnet/wire (DESIGN.md, "CLI").
#include <exception>
#include <string>

#include <CLI/CLI.hpp>

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

    auto* lab = app.add_subcommand("lab", "Lab files: draw the topology");
    lab->require_subcommand(1);
    vnet::cli::graph_options graph;
    auto* lab_graph = lab->add_subcommand("graph", "Print the lab topology as Graphviz dot");
    lab_graph->add_option("FILE", graph.file, "lab file (TOML)")->required();

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
    } catch (const std::exception& e) {
        return vnet::cli::report_error("internal error", e.what(), 1);
    }
    return vnet::cli::exit_bad_input;
}
