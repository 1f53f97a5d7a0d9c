// Compares a loop under test with the model after a step: what ran, the ready and heap
// sizes, the cancelled-timer count, and (unless with_heap is false) the heap array itself,
// which fixes the order of every future tie. Returns an empty string when they agree, else
// what differs.
#pragma once

#include <initializer_list>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "model/scheduler_model.hpp"

namespace loopcheck::sut {

inline std::string show_ids(const std::vector<model::CallbackId>& ids) {
  std::ostringstream out;
  out << '[';
  for (std::size_t i = 0; i < ids.size(); ++i) out << (i ? " " : "") << "cb" << ids[i];
  out << ']';
  return out.str();
}

// Callbacks created by other callbacks' actions are numbered in creation order too; this
// says whose child each one mentioned is (per the model).
inline std::string children_legend(const model::SchedulerModel& m, std::initializer_list<const std::vector<model::CallbackId>*> lists) {
  std::set<model::CallbackId> seen;
  std::ostringstream out;
  for (const auto* ids : lists)
    for (model::CallbackId id : *ids)
      if (id < m.handle_count() && m.parent(id) != model::SchedulerModel::kNoParent && seen.insert(id).second)
        out << (seen.size() == 1 ? "children: " : ", ") << "cb" << id << " from cb" << m.parent(id);
  if (!seen.empty()) out << "\n";
  return out.str();
}

template <class Sut>
std::string compare_with_model(const model::SchedulerModel& expected, const std::vector<model::CallbackId>& expected_ran,
                               const Sut& actual, const std::vector<model::CallbackId>& actual_ran,
                               bool with_heap = true) {
  std::ostringstream diff;
  if (expected_ran != actual_ran) diff << "ran " << show_ids(actual_ran) << ", model ran " << show_ids(expected_ran) << "\n";
  if (expected.ready_count() != actual.ready_count())
    diff << "ready_count " << actual.ready_count() << ", model " << expected.ready_count() << "\n";
  if (expected.scheduled_count() != actual.scheduled_count())
    diff << "scheduled_count " << actual.scheduled_count() << ", model " << expected.scheduled_count() << "\n";
  if (expected.timer_cancelled_count() != actual.timer_cancelled_count())
    diff << "timer_cancelled_count " << actual.timer_cancelled_count() << ", model " << expected.timer_cancelled_count() << "\n";
  std::vector<model::CallbackId> heap = with_heap ? actual.heap() : expected.heap();
  if (heap != expected.heap()) diff << "heap " << show_ids(heap) << ", model " << show_ids(expected.heap()) << "\n";
  if (diff.tellp() > 0) diff << children_legend(expected, {&expected_ran, &actual_ran, &heap, &expected.heap()});
  return diff.str();
}

}  // namespace loopcheck::sut
