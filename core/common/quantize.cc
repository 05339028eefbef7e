#include "quantd/core/quantize.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <new>
#include <string>

#include "core/common/parallel.h"
#include "quantd/core/method.h"

namespace quantd {
namespace {

std::string TensorLabel(std::string_view name) {
  return name.empty() ? std::string("tensor") : "tensor '" + std::string(name) + "'";
}

// The index of the first non-finite value of `v` (lowest index, whatever the thread schedule), or
// -1. Scanned in parallel blocks, each first with an integer test the compiler vectorises: on
// large blocks a serial scan costs as much as encoding.
int64_t FirstNonFinite(std::span<const float> v) {
  constexpr int64_t kBlock = int64_t{1} << 16;
  const int64_t n = static_cast<int64_t>(v.size());
  std::atomic<int64_t> bad{INT64_MAX};
  ParallelFor(0, (n + kBlock - 1) / kBlock, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t end = std::min(n, (b + 1) * kBlock);
      // Exponent bits all ones means Inf or NaN.
      uint32_t any_bad = 0;
      for (int64_t i = b * kBlock; i < end; ++i) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        any_bad |= static_cast<uint32_t>((u & 0x7F800000u) == 0x7F800000u);
      }
      if (any_bad == 0) continue;
      for (int64_t i = b * kBlock; i < end; ++i) {
        if (!std::isfinite(v[i])) {
          int64_t seen = bad.load();
          while (i < seen && !bad.compare_exchange_weak(seen, i)) {
          }
          break;
        }
      }
    }
  });
  return bad.load() == INT64_MAX ? -1 : bad.load();
}

// The non-finite value in.data[i], with its row and column (ValidateChunkValues adds the tensor).
Status NonFiniteValueError(const Chunk& in, int64_t i) {
  return InvalidArgumentError("non-finite value " + std::to_string(in.data[i]) + " at row " +
                              std::to_string(in.row_begin + i / in.cols) + ", column " +
                              std::to_string(i % in.cols));
}

}  // namespace

Status ValidateChunkLayout(const Chunk& in) {
  const std::string who = TensorLabel(in.tensor_name);
  auto m = MatrixShapeOf(in.shape);
  if (!m.ok()) return m.status().WithContext(who);
  if (in.cols != m->cols) {
    return InvalidArgumentError(who + ": row length " + std::to_string(in.cols) +
                                " does not match the shape's last dimension " + std::to_string(m->cols));
  }
  if (in.rows < 1 || in.cols < 1) {
    return InvalidArgumentError(who + ": a block needs at least one row of at least one value");
  }
  if (in.row_begin < 0 || in.row_begin > m->rows - in.rows) {
    return InvalidArgumentError(who + ": rows " + std::to_string(in.row_begin) + ".." +
                                std::to_string(in.row_begin + in.rows) + " lie outside the " +
                                std::to_string(m->rows) + " rows of the tensor");
  }
  if (in.data.size() != static_cast<size_t>(in.rows * in.cols)) {
    return InvalidArgumentError(who + ": " + std::to_string(in.data.size()) + " values for " +
                                std::to_string(in.rows) + " x " + std::to_string(in.cols));
  }
  if (in.calibration != nullptr) {
    const auto& cm = in.calibration->column_max;
    if (!cm.empty()) {
      if (cm.size() != static_cast<size_t>(in.cols)) {
        return InvalidArgumentError(who + ": column_max has " + std::to_string(cm.size()) +
                                    " values, the rows have " + std::to_string(in.cols));
      }
      for (float v : cm) {
        if (!std::isfinite(v) || v < 0) {
          return InvalidArgumentError(who + ": column_max values must be finite and >= 0");
        }
      }
    }
    const auto& h = in.calibration->hessian;
    if (!h.empty()) {
      if (h.size() != static_cast<size_t>(in.cols) * static_cast<size_t>(in.cols)) {
        return InvalidArgumentError(who + ": hessian has " + std::to_string(h.size()) +
                                    " values, expected cols^2 = " + std::to_string(in.cols * in.cols));
      }
      for (float v : h) {
        if (!std::isfinite(v)) return InvalidArgumentError(who + ": hessian has a non-finite value");
      }
    }
  }
  return OkStatus();
}

Status ValidateChunkValues(const Chunk& in) {
  const int64_t i = FirstNonFinite(in.data);
  if (i < 0) return OkStatus();
  return NonFiniteValueError(in, i).WithContext(TensorLabel(in.tensor_name));
}

Status ValidateChunk(const Chunk& in) {
  QUANTD_RETURN_IF_ERROR(ValidateChunkLayout(in));
  return ValidateChunkValues(in);
}

namespace {

// Runs `f` isolated: encoders hold per-thread resources (a thread's CUDA stream and buffers,
// thread_local scratch) across their nested ParallelFors; isolation keeps a waiting thread from
// starting another chunk's encode on top of them.
StatusOr<Encoding> Isolated(const std::function<StatusOr<Encoding>()>& f) {
  StatusOr<Encoding> r = InternalError("unset");
  RunIsolated([&] { r = f(); });
  return r;
}

// EncodeRows, and when `sums` is not null and the chunk is encoded on the CPU by a method that
// measures while it encodes, the error sums too (*measured tells whether they were filled).
StatusOr<Encoding> EncodeRowsImpl(const Chunk& input, std::string_view method_name, const Params& params,
                                  const DevicePolicy& device, Device* used, ErrorSums* sums, bool* measured) {
  QUANTD_RETURN_IF_ERROR(ValidateChunkLayout(input));
  const std::string who = TensorLabel(input.tensor_name);
  auto method = RequireMethod(method_name);
  // A method that checks the values in its own first pass is spared this one, on the CPU.
  const bool method_checks_values = method.ok() && (*method)->ChecksFiniteInput();
  if (!method_checks_values) QUANTD_RETURN_IF_ERROR(ValidateChunkValues(input));
  // A method that checks the values in its own pass fails on a non-finite one however it can; any
  // error, before its pass or from it, then gives way to ValidateChunk's: the first non-finite
  // value, named, as for every other method.
  auto fail = [&](const Status& s) {
    if (method_checks_values) {
      if (Status v = ValidateChunkValues(input); !v.ok()) return v;
    }
    return s;
  };
  if (!method.ok()) return method.status().WithContext(who);
  auto resolved = (*method)->Resolve(params, input.cols);
  if (!resolved.ok()) return fail(resolved.status().WithContext(who));
  auto m = MatrixShapeOf(input.shape);
  if (!(*method)->AllowsRowChunks(*resolved) && (input.row_begin != 0 || input.rows != m->rows)) {
    return fail(InvalidArgumentError(who + ": method " + std::string(method_name) + " with " +
                                     resolved->ToString() + " must encode the whole tensor at once"));
  }
  const CudaEncoder gpu = (*method)->cuda_encoder();
  auto plan = PlanDevice(device, gpu != nullptr, input.rows * input.cols);
  if (!plan.ok()) return fail(plan.status().WithContext(who + ": method " + std::string(method_name)));
  StatusOr<Encoding> enc = InternalError("unset");
  Device where = plan->device;
  try {
    auto on_cpu = [&] {
      if (sums != nullptr && (*method)->MeasuresWhileEncoding(*resolved)) {
        *measured = true;
        return (*method)->EncodeMeasured(input, *resolved, sums);
      }
      return (*method)->Encode(input, *resolved);
    };
    if (plan->device == Device::kCuda) {
      if (method_checks_values) QUANTD_RETURN_IF_ERROR(ValidateChunkValues(input));
      enc = Isolated([&] { return gpu(input, *resolved); });
      if (!enc.ok() && plan->cpu_fallback && FallsBackToCpu(enc.status().code())) {
        where = Device::kCpu;  // the GPU cannot take it: the CPU can
        enc = Isolated(on_cpu);
      }
    } else {
      enc = Isolated(on_cpu);
    }
  } catch (const std::bad_alloc&) {
    return ResourceExhaustedError(who + ": out of memory while encoding");
  } catch (const std::exception& e) {
    return InternalError(who + ": " + e.what());
  }
  if (!enc.ok()) return fail(enc.status().WithContext(who));
  enc->method = std::string(method_name);
  enc->params = std::move(*resolved);
  enc->shape.assign(input.shape.begin(), input.shape.end());
  enc->source_dtype = input.source_dtype;
  enc->row_begin = input.row_begin;
  enc->row_end = input.row_begin + input.rows;
  enc->cols = input.cols;
  if (used != nullptr) *used = where;
  return enc;
}

}  // namespace

StatusOr<Encoding> EncodeRows(const Chunk& input, std::string_view method_name, const Params& params,
                              const DevicePolicy& device, Device* used) {
  return EncodeRowsImpl(input, method_name, params, device, used, nullptr, nullptr);
}

StatusOr<ChunkResult> EncodeAndMeasure(const Chunk& input, std::string_view method, const Params& params,
                                       const DevicePolicy& device) {
  ChunkResult out;
  bool measured = false;
  QUANTD_ASSIGN_OR_RETURN(out.encoding,
                          EncodeRowsImpl(input, method, params, device, &out.device, &out.error, &measured));
  if (measured) return out;
  // Not zero-filled: every value is written by the decoder.
  std::unique_ptr<float[]> buffer(new float[input.data.size()]);
  const std::span<float> decoded(buffer.get(), input.data.size());
  Status s = DecodeRows(out.encoding, decoded);
  if (!s.ok()) return InternalError("decoding a fresh encoding failed: " + s.ToString());
  out.error = ComputeBlockErrorSums(input.data, decoded, input.cols);
  return out;
}

StatusOr<ChunkResult> EncodeChunk(const ChunkSpec& spec, std::span<const uint8_t> bytes,
                                  const Calibration* calibration, const DevicePolicy& device) {
  QUANTD_RETURN_IF_ERROR(ValidateChunkSpec(spec));
  const uint64_t expect = ChunkSourceBytes(spec);
  if (bytes.size() != expect) {
    return InvalidArgumentError(spec.Describe() + ": " + std::to_string(bytes.size()) +
                                " data bytes, expected " + std::to_string(expect) +
                                " (row_count x cols x dtype size)");
  }
  const int64_t cols = spec.cols();
  // F32 rows are read where they lie (little-endian host) when aligned for float; other dtypes
  // are widened into `converted`.
  std::vector<float> converted;
  std::span<const float> values;
  if (spec.dtype == DType::kF32 && reinterpret_cast<uintptr_t>(bytes.data()) % alignof(float) == 0) {
    values = std::span<const float>(reinterpret_cast<const float*>(bytes.data()), bytes.size() / 4);
  } else {
    converted.resize(static_cast<size_t>(spec.row_count * cols));
    QUANTD_RETURN_IF_ERROR(ConvertToFloat(spec.dtype, bytes, converted));
    values = converted;
  }
  const Chunk chunk{.tensor_name = spec.tensor,
                    .shape = spec.shape,
                    .source_dtype = spec.dtype,
                    .row_begin = spec.row_begin,
                    .rows = spec.row_count,
                    .cols = cols,
                    .data = values,
                    .calibration = calibration != nullptr && !calibration->empty() ? calibration : nullptr};
  return EncodeAndMeasure(chunk, spec.method, spec.params, device);
}

Status ValidateEncodingHeader(const Encoding& enc) {
  QUANTD_ASSIGN_OR_RETURN(const Method* method, RequireMethod(enc.method));
  (void)method;
  QUANTD_ASSIGN_OR_RETURN(MatrixShape m, MatrixShapeOf(enc.shape));
  if (enc.cols != m.cols || enc.cols < 1) {
    return InvalidArgumentError("encoding cols " + std::to_string(enc.cols) +
                                " does not match its shape's last dimension " + std::to_string(m.cols));
  }
  if (enc.row_begin < 0 || enc.row_end <= enc.row_begin || enc.row_end > m.rows) {
    return InvalidArgumentError("encoding row range " + std::to_string(enc.row_begin) + ".." +
                                std::to_string(enc.row_end) + " is not inside the tensor's " +
                                std::to_string(m.rows) + " rows");
  }
  return OkStatus();
}

Status DecodeRows(const Encoding& enc, std::span<float> out) {
  QUANTD_RETURN_IF_ERROR(ValidateEncodingHeader(enc));
  if (out.size() != static_cast<size_t>(enc.num_weights())) {
    return InvalidArgumentError("decode buffer has " + std::to_string(out.size()) + " values for " +
                                std::to_string(enc.num_weights()));
  }
  const Method* method = FindMethod(enc.method);
  // Parameters come from the encoding and may be untrusted: resolve them again, which checks
  // every value's range, and require them to be complete (nothing left to a default).
  auto resolved = method->Resolve(enc.params, enc.cols);
  if (!resolved.ok()) return resolved.status().WithContext("encoding parameters");
  if (!(*resolved == enc.params)) {
    return InvalidArgumentError("encoding parameters are incomplete: expected " + resolved->ToString() +
                                ", got " + enc.params.ToString());
  }
  try {
    QUANTD_RETURN_IF_ERROR(method->Decode(enc, out));
  } catch (const std::bad_alloc&) {
    return ResourceExhaustedError("out of memory while decoding");
  } catch (const std::exception& e) {
    return InternalError(std::string("decode: ") + e.what());
  }
  // Finite stored values can still overflow when combined (a scale near FLT_MAX times a code).
  // Encoders never store such values, so a non-finite weight means a corrupt encoding.
  if (method->DecodesFiniteOnly(*resolved)) return OkStatus();
  if (const int64_t i = FirstNonFinite(out); i >= 0) {
    return DataLossError(enc.method + " encoding decodes to a non-finite weight at row " +
                         std::to_string(enc.row_begin + i / enc.cols) + ", column " +
                         std::to_string(i % enc.cols) + ": its stored values are corrupt");
  }
  return OkStatus();
}

StatusOr<std::vector<float>> DecodeRows(const Encoding& enc) {
  QUANTD_RETURN_IF_ERROR(ValidateEncodingHeader(enc));
  std::vector<float> out(static_cast<size_t>(enc.num_weights()));
  QUANTD_RETURN_IF_ERROR(DecodeRows(enc, std::span<float>(out)));
  return out;
}

}  // namespace quantd
