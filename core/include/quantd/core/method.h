// File: method.h
//
// `quantd::Method`: the interface every quantization method implements, and the registry that
// maps method names ("rtn", "kashin", "pvq", "crossquant") to implementations.
//
// A method is stateless and thread-safe: Encode and Decode may run concurrently on any threads.
// Callers normally go through quantize.h, which validates inputs before a method sees them.
#ifndef QUANTD_CORE_METHOD_H_
#define QUANTD_CORE_METHOD_H_

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "quantd/core/encoding.h"
#include "quantd/core/params.h"
#include "quantd/core/status.h"
#include "quantd/core/tensor.h"

namespace quantd {

// Describes one parameter, for --help, GetInfo and documentation.
struct ParamSpec {
  std::string name;
  std::string type;           // "int", "double", "bool", "enum", "string"
  std::string default_value;  // as Params stores it
  std::string range;          // "2..8", "hadamard|dct|qr", ...
  std::string help;
};

class Method {
 public:
  virtual ~Method() = default;

  virtual std::string_view name() const = 0;
  virtual std::string_view summary() const = 0;
  virtual std::vector<ParamSpec> param_specs() const = 0;

  // Validates `user` for rows of length `cols`, fills in every default, and returns the
  // complete parameter set the encoding will record. INVALID_ARGUMENT names the offending key.
  virtual StatusOr<Params> Resolve(const Params& user, int64_t cols) const = 0;

  // False when the method must see the whole tensor at once (e.g. Kashin's matrix mode); the
  // client then sends it as one block.
  virtual bool AllowsRowChunks(const Params& resolved) const { return true; }

  // Encodes `input` with `resolved` parameters (the output of Resolve). Fills `sections` and
  // `stats` of the returned Encoding; the caller (EncodeRows) fills the header fields.
  // REQUIRES: input values are finite; input.rows >= 1; input.cols >= 1.
  virtual StatusOr<Encoding> Encode(const RowBlock& input, const Params& resolved) const = 0;

  // Rebuilds enc.rows() x enc.cols floats into `out`. `enc` may come from an untrusted peer:
  // every section is checked before use, and a malformed encoding is INVALID_ARGUMENT, never a
  // crash. REQUIRES: out.size() == enc.rows() * enc.cols.
  virtual Status Decode(const Encoding& enc, std::span<float> out) const = 0;
};

// The registered methods, in a fixed order.
std::span<const Method* const> AllMethods();
// The method called `name`, or nullptr.
const Method* FindMethod(std::string_view name);
// NOT_FOUND-style INVALID_ARGUMENT listing the known methods when `name` is unknown.
StatusOr<const Method*> RequireMethod(std::string_view name);

}  // namespace quantd

#endif  // QUANTD_CORE_METHOD_H_
