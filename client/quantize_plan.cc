#include "quantize_plan.h"

#include "quantd/core/method.h"

namespace quantd::client {

StatusOr<OverrideRule> OverrideRule::Parse(const std::string& text) {
  // REGEX=method[:k=v,...]: the pattern ends at the first '=' (so it cannot contain one).
  const size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    return InvalidArgumentError("--override '" + text + "' is not REGEX=method[:key=value,...]");
  }
  OverrideRule r;
  r.pattern = text.substr(0, eq);
  std::string rest = text.substr(eq + 1);
  const size_t colon = rest.find(':');
  r.method = rest.substr(0, colon);
  if (colon != std::string::npos) {
    auto p = Params::Parse(rest.substr(colon + 1));
    if (!p.ok()) return p.status().WithContext("--override '" + text + "'");
    r.params = *p;
  }
  if (r.method.empty()) return InvalidArgumentError("--override '" + text + "' names no method");
  try {
    r.regex = std::regex(r.pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    return InvalidArgumentError("--override '" + text + "': bad regular expression: " + e.what());
  }
  return r;
}

std::vector<ChunkPlan> PlanRowChunks(int64_t rows, int64_t row_bytes, uint64_t chunk_bytes, bool allow_split) {
  std::vector<ChunkPlan> out;
  if (rows <= 0) return out;
  int64_t per = rows;
  if (allow_split && row_bytes > 0) {
    per = std::max<int64_t>(1, static_cast<int64_t>(chunk_bytes / static_cast<uint64_t>(row_bytes)));
    per = std::min(per, rows);
  }
  for (int64_t r = 0; r < rows; r += per) out.push_back({r, std::min(rows, r + per)});
  return out;
}

StatusOr<std::vector<TensorPlan>> PlanCheckpoint(const Checkpoint& checkpoint, const PlanOptions& options) {
  std::vector<std::regex> skip;
  for (const std::string& s : options.skip) {
    try {
      skip.emplace_back(s, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      return InvalidArgumentError("--skip '" + s + "': bad regular expression: " + e.what());
    }
  }
  std::vector<TensorPlan> plans;
  for (const Checkpoint::Entry& e : checkpoint.tensors()) {
    TensorPlan p;
    p.entry = &e;
    const TensorInfo& t = *e.info;
    auto m = MatrixShapeOf(t.shape);
    if (!m.ok()) return m.status().WithContext("tensor '" + t.name + "'");
    p.matrix = *m;
    p.method = options.method;
    p.params = options.params;
    p.device = options.device;
    bool overridden = false;
    for (const OverrideRule& o : options.overrides) {
      if (std::regex_search(t.name, o.regex)) {
        p.method = o.method;
        p.params = o.params;
        overridden = true;
        break;
      }
    }
    if (!IsQuantizableSource(t.dtype)) {
      p.reason = "dtype " + std::string(DTypeName(t.dtype));
    } else if (t.shape.size() < 2) {
      p.reason = "1-D";
    } else if (m->num_elements() == 0) {
      p.reason = "empty";
    } else if (!options.quantize_embeddings && !overridden && t.name.find("embed") != std::string::npos) {
      p.reason = "embedding";
    } else if (p.method == "none" || p.method == "copy") {
      p.reason = "override";
    } else {
      for (size_t i = 0; i < skip.size(); ++i) {
        if (std::regex_search(t.name, skip[i])) {
          p.reason = "--skip " + options.skip[i];
          break;
        }
      }
    }
    if (p.reason.empty()) {
      auto method = RequireMethod(p.method);
      if (!method.ok()) return method.status().WithContext("tensor '" + t.name + "'");
      auto resolved = (*method)->Resolve(p.params, m->cols);
      if (!resolved.ok()) return resolved.status().WithContext("tensor '" + t.name + "'");
      p.params = *resolved;
      p.quantize = true;
      p.chunks = PlanRowChunks(m->rows, m->cols * static_cast<int64_t>(DTypeSize(t.dtype)), options.chunk_bytes,
                               (*method)->AllowsRowChunks(p.params));
    } else {
      p.method.clear();
      p.params = Params();
    }
    plans.push_back(std::move(p));
  }
  return plans;
}

}  // namespace quantd::client

namespace quantd::client {
namespace {

// The F32 tensor `name` of `file` with `expect` elements, as a view; NOT_FOUND when absent.
StatusOr<std::span<const float>> F32View(const SafetensorsFile& file, const std::string& name, int64_t expect,
                                         const char* what) {
  const TensorInfo* t = file.Find(name);
  if (t == nullptr) return NotFoundError("");
  auto bytes = file.Data(*t);
  if (t->dtype != DType::kF32 || bytes.size() != static_cast<uint64_t>(expect) * 4) {
    return InvalidArgumentError(file.path() + ": " + what + " of tensor '" + name + "' must be F32 with " +
                                std::to_string(expect) + " values");
  }
  if (reinterpret_cast<uintptr_t>(bytes.data()) % alignof(float) != 0) {
    return InvalidArgumentError(file.path() + ": " + what + " of tensor '" + name + "' is not 4-byte aligned in the file");
  }
  return std::span<const float>(reinterpret_cast<const float*>(bytes.data()), bytes.size() / 4);
}

// Using calibration is a parameter of the encoding (recorded, and checked by the method against
// the data it gets): turns `flag` on and resolves the parameters again.
Status SetAndResolve(TensorPlan& p, const char* flag) {
  p.params.SetBool(flag, true);
  auto method = RequireMethod(p.method);
  auto resolved = (*method)->Resolve(p.params, p.matrix.cols);
  if (!resolved.ok()) return resolved.status().WithContext("tensor '" + p.name() + "'");
  p.params = *resolved;
  return OkStatus();
}

}  // namespace

Status AttachCalibration(std::vector<TensorPlan>& plans, const SafetensorsFile* hessians,
                         const SafetensorsFile* column_max) {
  if (hessians == nullptr && column_max == nullptr) return OkStatus();
  int used = 0;
  for (TensorPlan& p : plans) {
    if (!p.quantize) continue;
    auto cal = std::make_shared<Calibration>();
    const int64_t n = p.matrix.cols;
    // Each kind of calibration goes only to the method that uses it.
    if (hessians != nullptr && p.method == "pvq") {
      auto h = F32View(*hessians, p.name(), n * n, "Hessian");
      if (h.ok()) {
        cal->hessian = *h;
        QUANTD_RETURN_IF_ERROR(SetAndResolve(p, "use_hessian"));
      } else if (h.status().code() != StatusCode::kNotFound) {
        return h.status();
      }
    }
    if (column_max != nullptr && p.method == "crossquant") {
      auto c = F32View(*column_max, p.name(), n, "column maxima");
      if (c.ok()) {
        cal->column_max = *c;
        QUANTD_RETURN_IF_ERROR(SetAndResolve(p, "static_columns"));
      } else if (c.status().code() != StatusCode::kNotFound) {
        return c.status();
      }
    }
    if (!cal->hessian.empty() || !cal->column_max.empty()) {
      p.calibration = std::move(cal);
      ++used;
    }
  }
  if (used == 0) {
    return InvalidArgumentError(std::string(hessians ? "--hessian" : "--column-max") +
                                " holds nothing for any tensor quantized with " +
                                (hessians ? "pvq" : "crossquant") + " (keys must be the tensors' names)");
  }
  return OkStatus();
}

}  // namespace quantd::client
