// Kashin's encoding pipeline: scales, greedy decompositions, the non-converged policy, the
// k-means codebook, label packing, and the matching decoder. The arithmetic kernels are passed
// in (Kernels), so the method and the reference tests share this layout code.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/common/bitpack.h"
#include "core/common/parallel.h"
#include "core/common/section_check.h"
#include "core/common/seed.h"
#include "core/kashin/kashin.h"

namespace quantd::kashin_internal {
namespace {

// Matrix mode's column transform Q1 gets a seed of its own, so that Q1 and Q2 differ even when
// the matrix is square.
uint64_t ColumnSeed(uint64_t seed) { return Mix64(seed ^ 0x636F6C756D6E5131ull); }

int64_t RowGrain(int64_t cols) { return std::max<int64_t>(1, (int64_t{1} << 15) / cols); }

// Per-row outcome of the decompositions of its blocks.
struct RowOutcome {
  int64_t iterations = 0;
  int64_t iterations_max = 0;
  int64_t not_converged = 0;
  double residual_max = 0;

  void Add(const GreedyResult& g) {
    iterations += g.iterations;
    iterations_max = std::max(iterations_max, g.iterations);
    not_converged += g.converged ? 0 : 1;
    residual_max = std::max(residual_max, g.residual);
  }
  void Add(const RowOutcome& o) {
    iterations += o.iterations;
    iterations_max = std::max(iterations_max, o.iterations_max);
    not_converged += o.not_converged;
    residual_max = std::max(residual_max, o.residual_max);
  }
};

}  // namespace

Clustered ClusterAndPack(const Chunk& in, const KashinOptions& o, const Kernels& kernels,
                         const std::vector<float>& u, const std::vector<float>& v,
                         const std::vector<int64_t>& fallback) {
  const int64_t rows = in.rows, cols = in.cols;
  const int64_t row_bytes = static_cast<int64_t>(PackedBytes(static_cast<size_t>(cols), o.bits));
  Clustered out{Section::Zeros("codes", DType::kU8, {rows, row_bytes}), nullptr};
  if (static_cast<int64_t>(fallback.size()) >= rows) return out;
  std::vector<uint8_t> labels(static_cast<size_t>(rows * cols), 0);
  if (fallback.empty()) {
    out.codebook = std::make_unique<Codebook>(
        kernels.kmeans(u.data(), v.data(), rows * cols, KMeansOptionsFor(o), labels.data()));
  } else {
    // Cluster only the rows that are quantized: gather them, then scatter their labels.
    std::vector<int64_t> kept;
    for (int64_t r = 0, f = 0; r < rows; ++r) {
      if (f < static_cast<int64_t>(fallback.size()) && fallback[static_cast<size_t>(f)] == r) {
        ++f;
      } else {
        kept.push_back(r);
      }
    }
    const int64_t nk = static_cast<int64_t>(kept.size());
    std::vector<float> ku(static_cast<size_t>(nk * cols)), kv(ku.size());
    std::vector<uint8_t> kl(ku.size());
    for (int64_t i = 0; i < nk; ++i) {
      const size_t src = static_cast<size_t>(kept[static_cast<size_t>(i)] * cols);
      std::copy_n(u.begin() + static_cast<std::ptrdiff_t>(src), cols, ku.begin() + i * cols);
      std::copy_n(v.begin() + static_cast<std::ptrdiff_t>(src), cols, kv.begin() + i * cols);
    }
    out.codebook = std::make_unique<Codebook>(
        kernels.kmeans(ku.data(), kv.data(), nk * cols, KMeansOptionsFor(o), kl.data()));
    for (int64_t i = 0; i < nk; ++i) {
      std::copy_n(kl.begin() + i * cols, cols, labels.begin() + kept[static_cast<size_t>(i)] * cols);
    }
  }
  ParallelFor(0, rows, RowGrain(cols), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      PackByteCodes(
          std::span<const uint8_t>(labels.data() + r * cols, static_cast<size_t>(cols)), o.bits,
          std::span<uint8_t>(out.codes.data.data() + r * row_bytes, static_cast<size_t>(row_bytes)));
    }
  });
  return out;
}

namespace {

// Matrix mode's stats (rows mode: AddRowsStats).
void AddStats(const RowOutcome& t, int64_t vectors, Encoding* enc) {
  enc->stats["vectors"] = static_cast<double>(vectors);
  enc->stats["vectors_not_converged"] = static_cast<double>(t.not_converged);
  enc->stats["iterations_sum"] = static_cast<double>(t.iterations);
  enc->stats["iterations_max"] = static_cast<double>(t.iterations_max);
  enc->stats["residual_max"] = t.residual_max;
}

Status ScaleOverflow(int64_t row) {
  return InvalidArgumentError("row " + std::to_string(row) +
                              " has a scale (RMS) beyond f16's range; use scale_dtype=f32");
}

StatusOr<Encoding> EncodeRowsMode(const Chunk& in, const KashinOptions& o, const Kernels& kernels) {
  const int64_t rows = in.rows, cols = in.cols;
  QUANTD_ASSIGN_OR_RETURN(NormalisedRows nr, NormaliseRows(in, o));
  QUANTD_ASSIGN_OR_RETURN(RowTransforms q, GetRowTransforms(o, cols));
  const GreedyOptions g = RowsGreedyOptions(o);
  std::vector<float> u(static_cast<size_t>(rows * cols), 0.0f), v(u.size(), 0.0f);
  const int64_t count = static_cast<int64_t>(nr.vectors.size());
  std::vector<GreedyResult> results(static_cast<size_t>(count));
  if (o.step_choice == KashinStepChoice::kVector) {
    ParallelFor(0, count, RowGrain(q.full->size()), [&](int64_t i0, int64_t i1) {
      // Isolated: a vector longer than greedy.cc's chunk runs a nested ParallelFor holding work.
      RunIsolated([&] {
        thread_local std::vector<float> work;
        work.resize(static_cast<size_t>(3 * q.full->size()));
        for (int64_t i = i0; i < i1; ++i) {
          const RowVector& w = nr.vectors[static_cast<size_t>(i)];
          results[static_cast<size_t>(i)] =
              kernels.decompose(q.Of(w.length), nr.xn.data() + w.offset, g, u.data() + w.offset,
                                v.data() + w.offset, work.data());
        }
      });
    });
  } else {
    std::vector<VectorTask> tasks;
    tasks.reserve(static_cast<size_t>(count));
    for (const RowVector& w : nr.vectors) {
      tasks.push_back({&q.Of(w.length), nr.xn.data() + w.offset, u.data() + w.offset, v.data() + w.offset});
    }
    results = kernels.decompose_slice(tasks, g);
  }
  Encoding enc;
  const std::vector<int64_t> fallback = AddRowsStats(rows, cols, o, nr.vectors, results, &enc);
  Clustered cl = ClusterAndPack(in, o, kernels, u, v, fallback);
  QUANTD_RETURN_IF_ERROR(
      AddSections(in, o, std::move(cl.codes), std::move(nr.scales), cl.codebook.get(), fallback, &enc));
  return enc;
}

StatusOr<Encoding> EncodeMatrixMode(const Chunk& in, const KashinOptions& o, const Kernels& kernels) {
  const int64_t rows = in.rows, cols = in.cols, n = rows * cols;
  QUANTD_ASSIGN_OR_RETURN(std::shared_ptr<const Transform> q1,
                          GetTransform(o.transform, rows, ColumnSeed(o.seed)));
  QUANTD_ASSIGN_OR_RETURN(std::shared_ptr<const Transform> q2, GetTransform(o.transform, cols, o.seed));
  const MatrixTransform q(q1, q2);
  // Sum of squares: per row in parallel, rows added in order.
  std::vector<double> row_ss(static_cast<size_t>(rows));
  ParallelFor(0, rows, RowGrain(cols), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      double ss = 0;
      for (int64_t c = 0; c < cols; ++c) ss += static_cast<double>(in.row(r)[c]) * in.row(r)[c];
      row_ss[static_cast<size_t>(r)] = ss;
    }
  });
  double ss = 0;
  for (double x : row_ss) ss += x;
  Section scales = Section::Zeros("scales", o.scale_dtype, {1, 1});
  const float s = StoreScalar(static_cast<float>(std::sqrt(ss / static_cast<double>(n))), o.scale_dtype,
                              scales.data.data());
  if (!std::isfinite(s)) return ScaleOverflow(in.row_begin);
  std::vector<float> u(static_cast<size_t>(n), 0.0f), v(u.size(), 0.0f);
  GreedyResult g{0, true, 0};
  if (s != 0) {
    std::vector<float> xn(static_cast<size_t>(n)), work(static_cast<size_t>(3 * n));
    ParallelFor(0, rows, RowGrain(cols), [&](int64_t r0, int64_t r1) {
      for (int64_t i = r0 * cols; i < r1 * cols; ++i)
        xn[static_cast<size_t>(i)] = in.data[static_cast<size_t>(i)] / s;
    });
    g = kernels.decompose(q, xn.data(), GreedyOptions{o.tolerance, o.max_iterations}, u.data(), v.data(),
                          work.data());
  }
  RowOutcome total;
  total.Add(g);
  std::vector<int64_t> fallback;
  if (!g.converged && o.non_converged == KashinPolicy::kKeep) {
    for (int64_t r = 0; r < rows; ++r) fallback.push_back(r);
  }
  Encoding enc;
  AddStats(total, 1, &enc);
  Clustered cl = ClusterAndPack(in, o, kernels, u, v, fallback);
  QUANTD_RETURN_IF_ERROR(
      AddSections(in, o, std::move(cl.codes), std::move(scales), cl.codebook.get(), fallback, &enc));
  return enc;
}

// The fallback rows of an untrusted encoding: present exactly with non_converged=keep,
// increasing, inside the slice.
StatusOr<std::vector<int64_t>> FallbackRows(const Encoding& enc, const KashinOptions& o,
                                            const Section** values) {
  std::vector<int64_t> rows;
  *values = nullptr;
  if (o.non_converged != KashinPolicy::kKeep) return rows;
  const Section* idx = enc.Find("fallback_rows");
  if (idx == nullptr || idx->shape.size() != 1) {
    return InvalidArgumentError("kashin encoding needs a one-dimensional section 'fallback_rows'");
  }
  const int64_t f = idx->shape[0];
  const int64_t idx_shape[] = {f};
  const int64_t val_shape[] = {f, enc.cols};
  QUANTD_ASSIGN_OR_RETURN(idx, enc.Require("fallback_rows", DType::kI64, idx_shape));
  QUANTD_ASSIGN_OR_RETURN(*values, enc.Require("fallback_values", o.fallback_dtype, val_shape));
  auto view = idx->view<int64_t>();
  rows.assign(view.begin(), view.end());
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i] < 0 || rows[i] >= enc.rows() || (i > 0 && rows[i] <= rows[i - 1])) {
      return InvalidArgumentError("kashin section 'fallback_rows' must hold increasing row indices in [0, " +
                                  std::to_string(enc.rows()) + "); entry " + std::to_string(i) + " is " +
                                  std::to_string(rows[i]));
    }
  }
  return rows;
}

}  // namespace

Kernels FastKernels() { return {&Decompose, &DecomposeSlice, &KMeans2D}; }

Kernels RefKernels() {
  return {[](const Transform& q, const float* x, const GreedyOptions& o, float* u, float* v, float*) {
            return DecomposeRef(q, x, o, u, v);
          },
          &DecomposeSliceRef, &KMeans2DRef};
}

KMeansOptions KMeansOptionsFor(const KashinOptions& o) {
  KMeansOptions k;
  k.k = o.centroids();
  k.seed = o.seed;
  k.sample_size = std::max<int64_t>(16384, 128 * int64_t{k.k});
  k.pilot_size = std::max<int64_t>(4096, 16 * int64_t{k.k});
  k.max_iterations = 100;
  k.restarts = o.kmeans_restarts;
  return k;
}

StatusOr<RowTransforms> GetRowTransforms(const KashinOptions& o, int64_t cols) {
  const int64_t len = o.BlockLength(cols), last = o.LastBlockLength(cols);
  RowTransforms q;
  QUANTD_ASSIGN_OR_RETURN(q.full, GetTransform(o.transform, len, o.seed));
  q.last = q.full;
  if (last != len) {
    QUANTD_ASSIGN_OR_RETURN(q.last, GetTransform(o.transform, last, o.seed));
  }
  return q;
}

GreedyOptions RowsGreedyOptions(const KashinOptions& o) {
  return GreedyOptions{o.tolerance, o.max_iterations,
                       o.step_choice == KashinStepChoice::kSlice ? o.bits + 2 : 0};
}

StatusOr<NormalisedRows> NormaliseRows(const Chunk& in, const KashinOptions& o) {
  const int64_t rows = in.rows, cols = in.cols;
  const int64_t len = o.BlockLength(cols), nb = o.BlocksPerRow(cols), last = o.LastBlockLength(cols);
  const size_t ssize = DTypeSize(o.scale_dtype);
  NormalisedRows out{Section::Zeros("scales", o.scale_dtype, {rows, nb}),
                     std::vector<float>(static_cast<size_t>(rows * cols), 0.0f),
                     {}};
  // A vector whose stored scale is 0 (a zero block, or one below the scale type's range) decodes
  // to zeros and is not decomposed.
  std::vector<uint8_t> live(static_cast<size_t>(rows * nb), 0);
  std::vector<uint8_t> finite(static_cast<size_t>(rows), 1);
  ParallelFor(0, rows, RowGrain(cols), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      for (int64_t b = 0; b < nb; ++b) {
        const int64_t n = b + 1 == nb ? last : len;
        const float* x = in.row(r) + b * len;
        double ss = 0;
        for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
        const float s = StoreScalar(static_cast<float>(std::sqrt(ss / static_cast<double>(n))), o.scale_dtype,
                                    out.scales.data.data() + (r * nb + b) * static_cast<int64_t>(ssize));
        if (!std::isfinite(s)) {
          finite[static_cast<size_t>(r)] = 0;
        } else if (s != 0) {
          live[static_cast<size_t>(r * nb + b)] = 1;
          float* xb = out.xn.data() + r * cols + b * len;
          for (int64_t i = 0; i < n; ++i) xb[i] = x[i] / s;
        }
      }
    }
  });
  for (int64_t r = 0; r < rows; ++r) {
    if (!finite[static_cast<size_t>(r)]) return ScaleOverflow(in.row_begin + r);
    for (int64_t b = 0; b < nb; ++b) {
      if (live[static_cast<size_t>(r * nb + b)])
        out.vectors.push_back({r, r * cols + b * len, b + 1 == nb ? last : len});
    }
  }
  return out;
}

std::vector<int64_t> AddRowsStats(int64_t rows, int64_t cols, const KashinOptions& o,
                                  std::span<const RowVector> vectors, std::span<const GreedyResult> results,
                                  Encoding* enc) {
  std::vector<RowOutcome> outcome(static_cast<size_t>(rows));
  for (size_t i = 0; i < vectors.size(); ++i) outcome[static_cast<size_t>(vectors[i].row)].Add(results[i]);
  RowOutcome total;
  std::vector<int64_t> fallback;
  for (int64_t r = 0; r < rows; ++r) {
    const RowOutcome& x = outcome[static_cast<size_t>(r)];
    total.Add(x);
    if (x.not_converged > 0 && o.non_converged == KashinPolicy::kKeep) fallback.push_back(r);
  }
  AddStats(total, rows * o.BlocksPerRow(cols), enc);
  return fallback;
}

Status AddSections(const Chunk& in, const KashinOptions& o, Section codes, Section scales,
                   const Codebook* codebook, const std::vector<int64_t>& fallback, Encoding* enc) {
  const int64_t cols = in.cols;
  const int k = o.centroids();
  Section cb_section = Section::Zeros("codebook", DType::kF32, {1, k, 2});
  if (codebook != nullptr) {
    auto cb = cb_section.mutable_view<float>();
    for (int j = 0; j < k; ++j) {
      cb[static_cast<size_t>(2 * j)] = codebook->cu[static_cast<size_t>(j)];
      cb[static_cast<size_t>(2 * j + 1)] = codebook->cv[static_cast<size_t>(j)];
    }
    enc->stats["kmeans_iterations_max"] = codebook->iterations;
  }
  enc->sections.push_back(std::move(codes));
  enc->sections.push_back(std::move(scales));
  enc->sections.push_back(std::move(cb_section));
  if (o.non_converged == KashinPolicy::kKeep) {
    const int64_t f = static_cast<int64_t>(fallback.size());
    Section idx = Section::Zeros("fallback_rows", DType::kI64, {f});
    Section val = Section::Zeros("fallback_values", o.fallback_dtype, {f, cols});
    const size_t esize = DTypeSize(o.fallback_dtype);
    for (int64_t i = 0; i < f; ++i) {
      const int64_t r = fallback[static_cast<size_t>(i)];
      idx.mutable_view<int64_t>()[static_cast<size_t>(i)] = r;
      std::span<uint8_t> dst(val.data.data() + i * cols * static_cast<int64_t>(esize),
                             static_cast<size_t>(cols) * esize);
      QUANTD_RETURN_IF_ERROR(ConvertFromFloat(std::span<const float>(in.row(r), static_cast<size_t>(cols)),
                                              o.fallback_dtype, dst));
      if (o.fallback_dtype == DType::kF16) {
        for (int64_t c = 0; c < cols; ++c) {
          uint16_t h;
          memcpy(&h, dst.data() + 2 * c, 2);
          if (!std::isfinite(F16ToFloat(h))) {
            return InvalidArgumentError("row " + std::to_string(in.row_begin + r) +
                                        " did not converge and has values beyond f16's range; use "
                                        "fallback_dtype=f32");
          }
        }
      }
    }
    enc->sections.push_back(std::move(idx));
    enc->sections.push_back(std::move(val));
  }
  enc->stats["rows_unquantized"] = static_cast<double>(fallback.size());
  return OkStatus();
}

StatusOr<Encoding> EncodeWith(const Chunk& in, const KashinOptions& o, const Kernels& kernels) {
  if (o.mode == KashinMode::kMatrix) return EncodeMatrixMode(in, o, kernels);
  return EncodeRowsMode(in, o, kernels);
}

Status DecodeWith(const Encoding& enc, const KashinOptions& o, std::span<float> out) {
  const int64_t rows = enc.rows(), cols = enc.cols;
  const int k = o.centroids();
  const int64_t row_bytes = static_cast<int64_t>(PackedBytes(static_cast<size_t>(cols), o.bits));
  const bool matrix = o.mode == KashinMode::kMatrix;
  const int64_t len = o.BlockLength(cols), nb = o.BlocksPerRow(cols), last = o.LastBlockLength(cols);
  const int64_t codes_shape[] = {rows, row_bytes};
  const int64_t scales_shape[] = {matrix ? 1 : rows, matrix ? 1 : nb};
  const int64_t codebook_shape[] = {1, k, 2};
  QUANTD_ASSIGN_OR_RETURN(const Section* codes, enc.Require("codes", DType::kU8, codes_shape));
  QUANTD_ASSIGN_OR_RETURN(const Section* scales, enc.Require("scales", o.scale_dtype, scales_shape));
  QUANTD_ASSIGN_OR_RETURN(const Section* codebook, enc.Require("codebook", DType::kF32, codebook_shape));
  const Section* fb_values = nullptr;
  QUANTD_ASSIGN_OR_RETURN(std::vector<int64_t> fb_rows, FallbackRows(enc, o, &fb_values));
  QUANTD_RETURN_IF_ERROR(RequireFiniteValues(*scales));
  QUANTD_RETURN_IF_ERROR(RequireFiniteValues(*codebook));
  if (fb_values != nullptr) QUANTD_RETURN_IF_ERROR(RequireFiniteValues(*fb_values));
  const auto cb = codebook->view<float>();
  std::vector<float> cu(static_cast<size_t>(k)), cv(static_cast<size_t>(k));
  for (int j = 0; j < k; ++j) {
    cu[static_cast<size_t>(j)] = cb[static_cast<size_t>(2 * j)];
    cv[static_cast<size_t>(j)] = cb[static_cast<size_t>(2 * j + 1)];
  }
  const size_t ssize = DTypeSize(o.scale_dtype);
  // Labels -> (C_u, C_v) for row r into a (u part) and b (v part).
  auto unpack_row = [&](int64_t r, float* a, float* b) {
    thread_local std::vector<uint32_t> lab;
    lab.resize(static_cast<size_t>(cols));
    UnpackBits(std::span<const uint8_t>(codes->data.data() + r * row_bytes, static_cast<size_t>(row_bytes)),
               o.bits, lab);
    for (int64_t c = 0; c < cols; ++c) {
      a[c] = cu[lab[static_cast<size_t>(c)]];
      b[c] = cv[lab[static_cast<size_t>(c)]];
    }
  };
  if (matrix) {
    QUANTD_ASSIGN_OR_RETURN(std::shared_ptr<const Transform> q1,
                            GetTransform(o.transform, rows, ColumnSeed(o.seed)));
    QUANTD_ASSIGN_OR_RETURN(std::shared_ptr<const Transform> q2, GetTransform(o.transform, cols, o.seed));
    const float s = LoadScalar(scales->data.data(), o.scale_dtype);
    std::vector<float> vpart(static_cast<size_t>(rows * cols));
    ParallelFor(0, rows, RowGrain(cols), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) unpack_row(r, out.data() + r * cols, vpart.data() + r * cols);
    });
    MatrixTransform(q1, q2).Inverse(vpart.data());
    ParallelFor(0, rows, RowGrain(cols), [&](int64_t r0, int64_t r1) {
      for (int64_t i = r0 * cols; i < r1 * cols; ++i)
        out[static_cast<size_t>(i)] = s * (out[static_cast<size_t>(i)] + vpart[static_cast<size_t>(i)]);
    });
  } else {
    QUANTD_ASSIGN_OR_RETURN(RowTransforms q, GetRowTransforms(o, cols));
    ParallelFor(0, rows, RowGrain(cols), [&](int64_t r0, int64_t r1) {
      thread_local std::vector<float> vpart;
      vpart.resize(static_cast<size_t>(cols));
      for (int64_t r = r0; r < r1; ++r) {
        float* o_row = out.data() + r * cols;
        unpack_row(r, o_row, vpart.data());
        for (int64_t b = 0; b < nb; ++b) {
          const int64_t n = b + 1 == nb ? last : len;
          float* vb = vpart.data() + b * len;
          q.Of(n).Inverse(vb);
          const float s =
              LoadScalar(scales->data.data() + (r * nb + b) * static_cast<int64_t>(ssize), o.scale_dtype);
          float* ob = o_row + b * len;
          for (int64_t i = 0; i < n; ++i) ob[i] = s * (ob[i] + vb[i]);
        }
      }
    });
  }
  if (!fb_rows.empty()) {
    const size_t esize = DTypeSize(o.fallback_dtype);
    for (size_t i = 0; i < fb_rows.size(); ++i) {
      std::span<const uint8_t> src(fb_values->data.data() + i * static_cast<size_t>(cols) * esize,
                                   static_cast<size_t>(cols) * esize);
      QUANTD_RETURN_IF_ERROR(
          ConvertToFloat(o.fallback_dtype, src,
                         out.subspan(static_cast<size_t>(fb_rows[i] * cols), static_cast<size_t>(cols))));
    }
  }
  return OkStatus();
}

}  // namespace quantd::kashin_internal
