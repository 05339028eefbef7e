#include "client/job/report.h"

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

namespace quantd::client {
namespace {

using nlohmann::ordered_json;

ordered_json Number(double v) { return std::isfinite(v) ? ordered_json(v) : ordered_json(nullptr); }

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string s;
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "x" : "") + std::to_string(shape[i]);
  return s.empty() ? "scalar" : s;
}

}  // namespace

uint64_t PeakRssBytes() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return 0;
  char line[256];
  unsigned long long kb = 0;
  while (std::fgets(line, sizeof(line), f)) {
    if (std::sscanf(line, "VmHWM: %llu kB", &kb) == 1) break;
  }
  std::fclose(f);
  return kb * 1024;
}

std::string JobReport::ToJson() const {
  ordered_json j;
  j["input"] = input;
  j["output"] = output;
  j["wall_seconds"] = wall_seconds;
  j["input_bytes"] = input_bytes;
  j["output_bytes"] = output_bytes;
  j["resumed_chunks"] = resumed_chunks;
  j["peak_rss_bytes"] = peak_rss_bytes;
  ordered_json list = ordered_json::array();
  for (const TensorReport& t : tensors) {
    ordered_json e;
    e["name"] = t.name;
    e["shape"] = t.shape;
    e["dtype"] = std::string(DTypeName(t.dtype));
    e["quantized"] = t.quantized;
    if (!t.quantized) {
      e["reason"] = t.reason;
    } else {
      e["method"] = t.method;
      e["params"] = t.params.entries();
      e["bits_per_weight"] = t.metrics.bits_per_weight;
      e["sqnr_db"] = Number(t.metrics.sqnr_db);
      e["relative_error"] = Number(t.metrics.relative_error);
      e["mse"] = Number(t.metrics.mse);
      e["max_abs_error"] = Number(t.metrics.max_abs_error);
      if (!t.stats.empty()) e["stats"] = t.stats;
      e["chunks"] = t.chunks;
      e["seconds"] = t.seconds;
      e["chunks_by_worker"] = t.chunks_by_worker;
      e["retries"] = t.retries;
    }
    list.push_back(std::move(e));
  }
  j["tensors"] = std::move(list);
  return j.dump(2) + "\n";
}

void JobReport::PrintTable(std::ostream& out) const {
  char line[512];
  std::snprintf(line, sizeof(line), "%-40s %-12s %-11s %7s %8s %8s\n", "tensor", "shape", "method", "bpw",
                "SQNR dB", "rel.err");
  out << line;
  struct Sum {
    int64_t tensors = 0;
    double weights = 0, bits = 0, sqnr = 0, seconds = 0;
  };
  std::map<std::string, Sum> by_method;
  for (const TensorReport& t : tensors) {
    if (!t.quantized) {
      std::snprintf(line, sizeof(line), "%-40s %-12s copied (%s)\n", t.name.c_str(),
                    ShapeText(t.shape).c_str(), t.reason.c_str());
    } else {
      std::snprintf(line, sizeof(line), "%-40s %-12s %-11s %7.3f %8.2f %8.4f\n", t.name.c_str(),
                    ShapeText(t.shape).c_str(), t.method.c_str(), t.metrics.bits_per_weight,
                    t.metrics.sqnr_db, t.metrics.relative_error);
      Sum& s = by_method[t.method];
      s.tensors++;
      s.weights += static_cast<double>(t.metrics.count);
      s.bits += t.metrics.bits_per_weight * static_cast<double>(t.metrics.count);
      s.sqnr += t.metrics.sqnr_db;
      s.seconds += t.seconds;
    }
    out << line;
  }
  out << "\n";
  std::snprintf(line, sizeof(line), "%-11s %8s %12s %8s %13s %10s\n", "method", "tensors", "weights", "bpw",
                "mean SQNR dB", "cpu s");
  out << line;
  for (const auto& [m, s] : by_method) {
    std::snprintf(line, sizeof(line), "%-11s %8lld %12.0f %8.3f %13.2f %10.3f\n", m.c_str(),
                  static_cast<long long>(s.tensors), s.weights, s.bits / s.weights, s.sqnr / s.tensors,
                  s.seconds);
    out << line;
  }
  std::snprintf(line, sizeof(line),
                "wall %.3f s, %.1f MB/s of quantized source, output %llu bytes, peak RSS %.0f MB\n",
                wall_seconds, wall_seconds > 0 ? static_cast<double>(input_bytes) / wall_seconds / 1e6 : 0.0,
                static_cast<unsigned long long>(output_bytes), static_cast<double>(peak_rss_bytes) / 1e6);
  out << line;
}

}  // namespace quantd::client
