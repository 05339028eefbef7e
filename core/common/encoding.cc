#include "quantd/core/encoding.h"

#include <string>

namespace quantd {
namespace {

std::string ShapeString(std::span<const int64_t> shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

}  // namespace

Section Section::Zeros(std::string name, DType dtype, std::vector<int64_t> shape) {
  Section s;
  s.name = std::move(name);
  s.dtype = dtype;
  s.shape = std::move(shape);
  s.data.assign(static_cast<size_t>(s.num_elements()) * DTypeSize(dtype), 0);
  return s;
}

int64_t Section::num_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

StatusOr<MatrixShape> MatrixShapeOf(std::span<const int64_t> shape) {
  int64_t total = 1;
  for (int64_t d : shape) {
    if (d < 0) return InvalidArgumentError("negative dimension in shape " + ShapeString(shape));
    if (d != 0 && total > kMaxTensorElements / d) {
      return InvalidArgumentError("shape " + ShapeString(shape) + " has more than 2^40 elements");
    }
    total *= d;
  }
  MatrixShape m;
  if (shape.empty()) {
    m.rows = 1;
    m.cols = 1;
  } else if (shape.size() == 1) {
    m.rows = 1;
    m.cols = shape[0];
  } else {
    m.cols = shape.back();
    m.rows = m.cols == 0 ? 0 : total / m.cols;
    if (m.cols == 0) {
      m.rows = 1;
      for (size_t i = 0; i + 1 < shape.size(); ++i) m.rows *= shape[i];
    }
  }
  return m;
}

const Section* Encoding::Find(std::string_view name) const {
  for (const Section& s : sections) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

Section* Encoding::FindMutable(std::string_view name) {
  for (Section& s : sections) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

StatusOr<const Section*> Encoding::Require(std::string_view name, DType dtype,
                                           std::span<const int64_t> shape) const {
  const Section* s = Find(name);
  if (s == nullptr) {
    return InvalidArgumentError(method + " encoding has no section '" + std::string(name) + "'");
  }
  if (s->dtype != dtype || s->shape.size() != shape.size() ||
      !std::equal(shape.begin(), shape.end(), s->shape.begin())) {
    return InvalidArgumentError(method + " section '" + std::string(name) + "' is " +
                                std::string(DTypeName(s->dtype)) + ShapeString(s->shape) + ", expected " +
                                std::string(DTypeName(dtype)) + ShapeString(shape));
  }
  if (s->data.size() != static_cast<size_t>(s->num_elements()) * DTypeSize(dtype)) {
    return InvalidArgumentError(method + " section '" + std::string(name) + "' holds " +
                                std::to_string(s->data.size()) + " bytes, its shape needs " +
                                std::to_string(s->num_elements() * DTypeSize(dtype)));
  }
  return s;
}

uint64_t Encoding::SectionBytes() const {
  uint64_t b = 0;
  for (const Section& s : sections) b += s.data.size();
  return b;
}

uint64_t Encoding::StorageBits() const {
  return 8 * SectionBytes() + static_cast<uint64_t>(kParamBits) * params.size();
}

double Encoding::BitsPerWeight() const {
  const int64_t n = num_weights();
  return n > 0 ? static_cast<double>(StorageBits()) / static_cast<double>(n) : 0.0;
}

}  // namespace quantd
