#include "quantd/core/tensor_encoding.h"

#include <algorithm>
#include <string>

namespace quantd {
namespace {

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Bytes of one step of the leading dimension. REQUIRES: rank >= 1.
int64_t LeadingStrideBytes(const Section& s) {
  int64_t n = static_cast<int64_t>(DTypeSize(s.dtype));
  for (size_t i = 1; i < s.shape.size(); ++i) n *= s.shape[i];
  return n;
}

}  // namespace

double FlatTensorEncoding::BitsPerWeight() const {
  auto m = MatrixShapeOf(shape);
  if (!m.ok() || m->num_elements() == 0) return 0;
  uint64_t bits = static_cast<uint64_t>(Encoding::kParamBits) * params.size();
  // From shapes, not data: a flat encoding may describe sections streamed from elsewhere.
  for (const Section& s : sections) bits += 8 * static_cast<uint64_t>(s.num_elements()) * DTypeSize(s.dtype);
  return static_cast<double>(bits) / static_cast<double>(m->num_elements());
}

StatusOr<FlatTensorEncoding> FlattenSlices(const std::vector<Encoding>& slices) {
  if (slices.empty()) return InvalidArgumentError("no slices to flatten");
  const Encoding& first = slices.front();
  QUANTD_ASSIGN_OR_RETURN(MatrixShape m, MatrixShapeOf(first.shape));
  FlatTensorEncoding flat;
  flat.method = first.method;
  flat.params = first.params;
  flat.shape = first.shape;
  flat.source_dtype = first.source_dtype;
  for (const Section& s : first.sections) {
    if (s.shape.empty()) {
      return InvalidArgumentError("section '" + s.name + "' has no leading dimension");
    }
    flat.section_names.push_back(s.name);
  }
  const size_t nsec = first.sections.size();
  int64_t expect_row = 0;
  for (size_t i = 0; i < slices.size(); ++i) {
    const Encoding& e = slices[i];
    const std::string where = "slice " + std::to_string(i) + " (rows " + std::to_string(e.row_begin) + ".." +
                              std::to_string(e.row_end) + ")";
    if (e.method != first.method || !(e.params == first.params) || e.shape != first.shape ||
        e.source_dtype != first.source_dtype || e.cols != first.cols) {
      return InvalidArgumentError(where + " differs from slice 0 in method, parameters or shape");
    }
    if (e.row_begin != expect_row || e.row_end <= e.row_begin) {
      return InvalidArgumentError(where + " does not continue at row " + std::to_string(expect_row));
    }
    expect_row = e.row_end;
    if (e.sections.size() != nsec) {
      return InvalidArgumentError(where + " has " + std::to_string(e.sections.size()) +
                                  " sections, slice 0 has " + std::to_string(nsec));
    }
    for (size_t k = 0; k < nsec; ++k) {
      const Section& a = first.sections[k];
      const Section& b = e.sections[k];
      if (b.name != a.name || b.dtype != a.dtype || b.shape.size() != a.shape.size() ||
          !std::equal(a.shape.begin() + 1, a.shape.end(), b.shape.begin() + 1)) {
        return InvalidArgumentError(where + " section '" + b.name + "' does not match slice 0's '" + a.name +
                                    "'");
      }
    }
    for (const auto& [k, v] : e.stats) {
      if (EndsWith(k, "_max")) {
        auto it = flat.stats.find(k);
        flat.stats[k] = it == flat.stats.end() ? v : std::max(it->second, v);
      } else {
        flat.stats[k] += v;
      }
    }
  }
  if (expect_row != m.rows) {
    return InvalidArgumentError("slices cover rows 0.." + std::to_string(expect_row) + " of a tensor with " +
                                std::to_string(m.rows) + " rows");
  }
  Section index = Section::Zeros(kSliceIndexSection, DType::kI64,
                                 {static_cast<int64_t>(slices.size()), static_cast<int64_t>(2 + nsec)});
  auto idx = index.mutable_view<int64_t>();
  for (size_t k = 0; k < nsec; ++k) {
    Section out;
    out.name = first.sections[k].name;
    out.dtype = first.sections[k].dtype;
    out.shape = first.sections[k].shape;
    out.shape[0] = 0;
    size_t bytes = 0;
    for (const Encoding& e : slices) bytes += e.sections[k].data.size();
    out.data.reserve(bytes);
    for (size_t i = 0; i < slices.size(); ++i) {
      const Section& s = slices[i].sections[k];
      out.shape[0] += s.shape[0];
      out.data.insert(out.data.end(), s.data.begin(), s.data.end());
      idx[i * (2 + nsec) + 2 + k] = s.shape[0];
    }
    flat.sections.push_back(std::move(out));
  }
  for (size_t i = 0; i < slices.size(); ++i) {
    idx[i * (2 + nsec)] = slices[i].row_begin;
    idx[i * (2 + nsec) + 1] = slices[i].row_end;
  }
  flat.sections.push_back(std::move(index));
  return flat;
}

StatusOr<std::vector<Encoding>> SplitSlices(const FlatTensorEncoding& flat) {
  QUANTD_ASSIGN_OR_RETURN(MatrixShape m, MatrixShapeOf(flat.shape));
  const size_t nsec = flat.section_names.size();
  if (flat.sections.size() != nsec + 1 || flat.sections.back().name != kSliceIndexSection) {
    return InvalidArgumentError("encoded tensor must list its sections followed by the '" +
                                std::string(kSliceIndexSection) + "' index");
  }
  const Section& index = flat.sections.back();
  if (index.dtype != DType::kI64 || index.shape.size() != 2 || index.shape[0] < 1 ||
      index.shape[1] != static_cast<int64_t>(2 + nsec) ||
      index.data.size() != static_cast<size_t>(index.shape[0] * index.shape[1]) * 8) {
    return InvalidArgumentError("slice index must be I64[slices, " + std::to_string(2 + nsec) + "]");
  }
  const int64_t nslices = index.shape[0];
  auto idx = index.view<int64_t>();
  std::vector<int64_t> offset(nsec, 0);
  for (size_t k = 0; k < nsec; ++k) {
    const Section& s = flat.sections[k];
    if (s.name != flat.section_names[k] || s.shape.empty() || s.shape[0] < 0) {
      return InvalidArgumentError("section '" + s.name + "' is out of order or has no leading dimension");
    }
    auto count = MatrixShapeOf(s.shape);
    if (!count.ok()) return count.status().WithContext("section '" + s.name + "'");
    if (s.data.size() != static_cast<size_t>(s.num_elements()) * DTypeSize(s.dtype)) {
      return InvalidArgumentError("section '" + s.name + "' holds " + std::to_string(s.data.size()) +
                                  " bytes, its shape needs " +
                                  std::to_string(s.num_elements() * DTypeSize(s.dtype)));
    }
  }
  std::vector<Encoding> out;
  out.reserve(static_cast<size_t>(nslices));
  int64_t expect_row = 0;
  for (int64_t i = 0; i < nslices; ++i) {
    const int64_t* row = idx.data() + i * static_cast<int64_t>(2 + nsec);
    if (row[0] != expect_row || row[1] <= row[0] || row[1] > m.rows) {
      return InvalidArgumentError("slice " + std::to_string(i) + " row range " + std::to_string(row[0]) +
                                  ".." + std::to_string(row[1]) + " does not continue at row " +
                                  std::to_string(expect_row));
    }
    expect_row = row[1];
    Encoding e;
    e.method = flat.method;
    e.params = flat.params;
    e.shape = flat.shape;
    e.source_dtype = flat.source_dtype;
    e.row_begin = row[0];
    e.row_end = row[1];
    e.cols = m.cols;
    for (size_t k = 0; k < nsec; ++k) {
      const Section& s = flat.sections[k];
      const int64_t len = row[2 + k];
      if (len < 0 || len > s.shape[0] - offset[k]) {
        return InvalidArgumentError("slice " + std::to_string(i) + " overruns section '" + s.name + "'");
      }
      const int64_t stride = LeadingStrideBytes(s);
      Section part;
      part.name = s.name;
      part.dtype = s.dtype;
      part.shape = s.shape;
      part.shape[0] = len;
      part.data.assign(s.data.begin() + offset[k] * stride, s.data.begin() + (offset[k] + len) * stride);
      offset[k] += len;
      e.sections.push_back(std::move(part));
    }
    out.push_back(std::move(e));
  }
  if (expect_row != m.rows) {
    return InvalidArgumentError("slices cover rows 0.." + std::to_string(expect_row) + " of " +
                                std::to_string(m.rows));
  }
  for (size_t k = 0; k < nsec; ++k) {
    if (offset[k] != flat.sections[k].shape[0]) {
      return InvalidArgumentError("section '" + flat.sections[k].name + "' has " +
                                  std::to_string(flat.sections[k].shape[0] - offset[k]) +
                                  " entries that no slice claims");
    }
  }
  return out;
}

}  // namespace quantd
