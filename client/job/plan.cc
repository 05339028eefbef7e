#include "client/job/plan.h"

namespace quantd::client {
namespace {

// Values a calibration of `kind` holds for rows of `cols` weights.
int64_t CalibrationValues(CalibrationKind kind, int64_t cols) {
  return kind == CalibrationKind::kHessian ? cols * cols : cols;
}

// The F32 tensor `name` of `file` with `expect` elements, as a view; NOT_FOUND when absent.
StatusOr<std::span<const float>> F32View(const SafetensorsFile& file, const std::string& name, int64_t expect,
                                         CalibrationKind kind) {
  const TensorInfo* t = file.Find(name);
  if (t == nullptr) return NotFoundError("");
  auto bytes = file.Data(*t);
  const std::string what = std::string(CalibrationKindName(kind)) + " of tensor '" + name + "'";
  if (t->dtype != DType::kF32 || bytes.size() != static_cast<uint64_t>(expect) * 4) {
    return InvalidArgumentError(file.path() + ": " + what + " must be F32 with " + std::to_string(expect) +
                                " values");
  }
  if (reinterpret_cast<uintptr_t>(bytes.data()) % alignof(float) != 0) {
    return InvalidArgumentError(file.path() + ": " + what + " is not 4-byte aligned in the file");
  }
  return std::span<const float>(reinterpret_cast<const float*>(bytes.data()), bytes.size() / 4);
}

Status Resolve(TensorPlan& p, const Method& method) {
  auto resolved = method.Resolve(p.params, p.matrix.cols);
  if (!resolved.ok()) return resolved.status().WithContext("tensor '" + p.name() + "'");
  p.params = *resolved;
  for (ChunkSpec& c : p.chunks) c.params = p.params;
  return OkStatus();
}

}  // namespace

std::span<const uint8_t> TensorPlan::Source(const ChunkSpec& chunk) const {
  const auto bytes = entry->file->Data(*entry->info);
  const size_t row_bytes = static_cast<size_t>(matrix.cols) * DTypeSize(entry->info->dtype);
  return bytes.subspan(static_cast<size_t>(chunk.row_begin) * row_bytes,
                       static_cast<size_t>(chunk.row_count) * row_bytes);
}

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

std::vector<std::pair<int64_t, int64_t>> SplitRows(int64_t rows, int64_t row_bytes, uint64_t chunk_bytes,
                                                   bool allow_split) {
  std::vector<std::pair<int64_t, int64_t>> out;
  if (rows <= 0) return out;
  int64_t per = rows;
  if (allow_split && row_bytes > 0) {
    per = std::max<int64_t>(1, static_cast<int64_t>(chunk_bytes / static_cast<uint64_t>(row_bytes)));
    per = std::min(per, rows);
  }
  for (int64_t r = 0; r < rows; r += per) out.emplace_back(r, std::min(rows, r + per));
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
      QUANTD_RETURN_IF_ERROR(Resolve(p, **method));
      p.quantize = true;
      const int64_t row_bytes = m->cols * static_cast<int64_t>(DTypeSize(t.dtype));
      for (const auto& [begin, end] :
           SplitRows(m->rows, row_bytes, options.chunk_bytes, (*method)->AllowsRowChunks(p.params))) {
        p.chunks.push_back(ChunkSpec{.tensor = t.name,
                                     .shape = t.shape,
                                     .dtype = t.dtype,
                                     .row_begin = begin,
                                     .row_count = end - begin,
                                     .method = p.method,
                                     .params = p.params});
      }
    } else {
      p.method.clear();
      p.params = Params();
    }
    plans.push_back(std::move(p));
  }
  return plans;
}

Status AttachCalibration(std::vector<TensorPlan>& plans, std::span<const CalibrationFile> files) {
  std::vector<int> used(files.size(), 0);
  for (TensorPlan& p : plans) {
    if (!p.quantize) continue;
    const Method& method = **RequireMethod(p.method);
    const CalibrationUse use = method.calibration();
    auto cal = std::make_shared<Calibration>();
    for (size_t i = 0; i < files.size(); ++i) {
      // Each kind of calibration goes only to the methods that consume it.
      if (files[i].kind != use.kind || use.kind == CalibrationKind::kNone) continue;
      auto view = F32View(*files[i].file, p.name(), CalibrationValues(use.kind, p.matrix.cols), use.kind);
      if (!view.ok()) {
        if (view.status().code() == StatusCode::kNotFound) continue;
        return view.status();
      }
      (use.kind == CalibrationKind::kHessian ? cal->hessian : cal->column_max) = *view;
      // Using calibration is a parameter of the encoding (recorded, and checked by the method
      // against the data it gets).
      p.params.SetBool(use.switch_param, true);
      QUANTD_RETURN_IF_ERROR(Resolve(p, method));
      ++used[i];
    }
    if (!cal->empty()) p.calibration = std::move(cal);
  }
  for (size_t i = 0; i < files.size(); ++i) {
    if (used[i] == 0) {
      return InvalidArgumentError(
          files[i].file->path() + " holds no " + std::string(CalibrationKindName(files[i].kind)) +
          " for any tensor quantized with a method that takes one (keys must be the tensors' names)");
    }
  }
  return OkStatus();
}

}  // namespace quantd::client
