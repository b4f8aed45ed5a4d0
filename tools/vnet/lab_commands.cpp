// vnet lab graph: the topology of a lab file as Graphviz dot.
#include <string>

#include <fmt/format.h>

#include <vnet/lab/graph.hpp>
#include <vnet/lab/lab_file.hpp>

#include "commands.hpp"

namespace vnet::cli {

int run_lab_graph(const graph_options& o) {
    auto lf = lab::load_lab(o.file);
    if (!lf) return report_error("lab", lf.error().to_string());
    fmt::print("{}", lab::to_dot(*lf));
    return exit_ok;
}

}  // namespace vnet::cli
