// File: method.h
//
// `quantd::Method`: the interface every quantization method implements, and the registry that
// maps method names ("rtn", "kashin", "pvq", "crossquant") to implementations.
//
// A method is stateless and thread-safe: Encode and Decode may run concurrently on any threads.
// Callers normally go through quantize.h, which validates inputs before a method sees them.
//
// Adding a method: a folder core/<name>/ (its options struct and ParamTable, Encode, Decode, a
// CMakeLists.txt adding its sources), one entry in core/common/registry.cc, and a typed
// parameter message in proto/quantd/v1/quantizer.proto. Its flags, --help, GetInfo entry, proto
// conversion, docs table and the contract tests (tests/core/method_contract_test.cc) follow.
#ifndef QUANTD_CORE_METHOD_H_
#define QUANTD_CORE_METHOD_H_

#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "quantd/core/chunk.h"
#include "quantd/core/encoding.h"
#include "quantd/core/metrics.h"
#include "quantd/core/param_table.h"
#include "quantd/core/params.h"
#include "quantd/core/status.h"

namespace quantd {

// A GPU twin of Method::Encode: the same contract and the same bytes (where the method says
// so), or UNIMPLEMENTED for parameters or shapes it does not cover and RESOURCE_EXHAUSTED when
// the device is out of memory (the two codes on which Device::kAuto falls back to the CPU).
using CudaEncoder = StatusOr<Encoding> (*)(const Chunk& input, const Params& resolved);

// Calibration data a method can consume, and the boolean parameter that switches it on (and is
// recorded, so that an encoding says whether it used calibration).
enum class CalibrationKind { kNone, kHessian, kColumnMax };
struct CalibrationUse {
  CalibrationKind kind = CalibrationKind::kNone;
  std::string_view switch_param;
};
// "hessian", "column_max".
std::string_view CalibrationKindName(CalibrationKind kind);
// The data of `kind` in `calibration` (empty when absent).
std::span<const float> CalibrationData(const Calibration& calibration, CalibrationKind kind);

class Method {
 public:
  virtual ~Method() = default;

  virtual std::string_view name() const = 0;
  virtual std::string_view summary() const = 0;
  // The method's parameter table, in declaration order (param_table.h).
  virtual std::span<const ParamSpec> param_specs() const = 0;

  // Checks `user` on its own (known keys, types, ranges, combinations), before any tensor is
  // seen: what a command line checks up front. INVALID_ARGUMENT names the offending key.
  virtual Status CheckParams(const Params& user) const = 0;

  // Validates `user` for rows of length `cols`, fills in every default, and returns the
  // complete parameter set the encoding will record. INVALID_ARGUMENT names the offending key.
  virtual StatusOr<Params> Resolve(const Params& user, int64_t cols) const = 0;

  // False when the method must see the whole tensor at once (e.g. Kashin's matrix mode); the
  // client then sends it as one chunk.
  virtual bool AllowsRowChunks(const Params& resolved) const { return true; }

  // The calibration data this method consumes, if any.
  virtual CalibrationUse calibration() const { return {}; }

  // Bounds on what parameters may make the method allocate ("max_table_bytes" -> 64 MiB):
  // requests past them are refused in Resolve (or Decode) before allocating. GetInfo publishes
  // them as "<method>.<name>".
  virtual std::map<std::string, uint64_t> limits() const { return {}; }

  // The CUDA encoder, or null (the method has none, or the build has no CUDA backend).
  virtual CudaEncoder cuda_encoder() const { return nullptr; }

  // True when Encode checks that the values are finite itself, in the pass it reads them anyway,
  // and fails (with any status) when one is not: EncodeRows then skips its own scan of the input
  // on the CPU (a whole extra read for memory-bound methods), and scans only when something
  // failed, to name the first non-finite value as it does for every method.
  virtual bool ChecksFiniteInput() const { return false; }

  // Encodes `input` with `resolved` parameters (the output of Resolve). Fills `sections` and
  // `stats` of the returned Encoding; the caller (EncodeRows) fills the header fields.
  // REQUIRES: input.rows >= 1; input.cols >= 1; input values are finite unless
  // ChecksFiniteInput().
  virtual StatusOr<Encoding> Encode(const Chunk& input, const Params& resolved) const = 0;

  // True when Decode with these (resolved, checked) parameters yields finite weights whenever the
  // stored values are finite (bounded codes times F16 scales cannot overflow): DecodeRows then
  // skips its scan of the output for overflow.
  virtual bool DecodesFiniteOnly(const Params& resolved) const { return false; }

  // True when EncodeMeasured with these (resolved) parameters also gives the error sums of the
  // encoding, ComputeBlockErrorSums(input, decoded, cols) bit for bit, without decoding the
  // whole chunk (RTN measures each row while it is in cache): EncodeAndMeasure then skips its
  // decode, a write and two reads of the chunk.
  virtual bool MeasuresWhileEncoding(const Params& resolved) const { return false; }
  virtual StatusOr<Encoding> EncodeMeasured(const Chunk& input, const Params& resolved,
                                            ErrorSums* sums) const {
    return Encode(input, resolved);
  }

  // Rebuilds enc.rows() x enc.cols floats into `out`. `enc` may come from an untrusted peer:
  // every section is checked before use, and a malformed encoding is INVALID_ARGUMENT, never a
  // crash. REQUIRES: out.size() == enc.rows() * enc.cols.
  virtual Status Decode(const Encoding& enc, std::span<float> out) const = 0;
};

// The registered methods, in a fixed order.
std::span<const Method* const> AllMethods();
// The method called `name`, or nullptr.
const Method* FindMethod(std::string_view name);
// INVALID_ARGUMENT listing the known methods when `name` is unknown.
StatusOr<const Method*> RequireMethod(std::string_view name);

}  // namespace quantd

#endif  // QUANTD_CORE_METHOD_H_
