// vnet/lab/conformance.hpp - the conformance tables (fixtures/conformance/*.toml): the
// table model and its loader, the generation of a lab file per row, the evaluation of
// rows (on VMs through a lab_executor, or by the model), the results, the reports
// (text, Markdown, JUnit XML) and sharding.
//
// A table file:
//   [table]
//   name = "switch-sku"              # --table NAME
//   number = 1
//   title = "Switch type x host SKU"
//   [[row]]
//   id = "internal-client"           # a-z 0-9 '-', at most 24 characters, unique in the table
//   source = "[NW] ... \"Virtual switch choices\""   # required: where the rule comes from
//   eval = "model"                   # model: every cell evaluated in process, no VM
//                                    # vm: the row's generated lab runs on VMs
//   note = "..."                     # optional: how a cell is observed
//   sku = "client"                   # the emulated Windows host (default server)
//   deploy = 'Deploy-Eflow -vSwitchName ... '   # the VM "eflow" as Deploy-Eflow makes it
//   cells = [ { kind = "deploy", expect = "Error: ..." }, { kind = "ping", to = "gateway", expect = "ok" } ]
//   [[row.vm]] / [[row.vm.nic]] / [[row.switch]] / [[row.network]] / [[row.peer]]   # lab-file fragments
// Row keys (all optional unless said): see row_keys below; cell kinds: cell_kind.
//
// Every row is generated into a lab_file at load time: the standard EFLOW topology (a LAN
// 192.168.0.0/24 with its router .1 that routes and NATs to the internet server
// 198.51.100.10, answers DNS for iothub.example, serves DHCP .100-.199 unless
// lan_dhcp = false; the host at .10 on it), the switch and VM "eflow" that the deploy
// command's validated plan describes, the row's fragments, and one [[check]] per VM cell.
// The whole is read by the lab-file reader, so a bad row is reported as FILE:LINE: KEY:
// MESSAGE like a bad lab file.
//
// Honesty rules: a cell is "evaluated by the model" or "observed on a VM", never both; a
// cell no executor can observe is "missing" (a failure), never a pass.
//
// The parts: conformance/table.hpp (model, executor interface, results),
// conformance/generate.hpp (row -> lab), conformance/load.hpp (loader),
// conformance/evaluate.hpp (evaluation), conformance/run.hpp (selection, sharding,
// runner), conformance/report.hpp (text, Markdown, JUnit XML).
#pragma once

#include <vnet/lab/conformance/evaluate.hpp>
#include <vnet/lab/conformance/generate.hpp>
#include <vnet/lab/conformance/load.hpp>
#include <vnet/lab/conformance/report.hpp>
#include <vnet/lab/conformance/run.hpp>
#include <vnet/lab/conformance/table.hpp>
