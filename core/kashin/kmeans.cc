// The fast 2-D k-means of Kashin quantization (definition in kashin.h): vectorised or
// grid-pruned nearest-centroid search and parallel assignment blocks whose sums are combined in
// block order, so the result is the reference's, bit for bit, for any number of threads.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "core/common/parallel.h"
#include "core/common/seed.h"
#include "core/kashin/kashin.h"

namespace quantd::kashin_internal {
namespace {

// Above this many centroids the grid-pruned search beats the vectorised brute force.
constexpr int kBruteMaxK = 8;
// Index offset of k-means++'s uniforms in stream kStreamKMeansInit (the sample uses [0, S)).
constexpr uint64_t kPlusPlusStreamOffset = uint64_t{1} << 40;

inline float Dist(float pu, float pv, float cu, float cv) {
  const float du = pu - cu;
  const float dv = pv - cv;
  return du * du + dv * dv;
}

// Brute force over points [0, n), eight points at a time held in registers: for each centroid
// in index order every point keeps the strictly smaller distance (so ties keep the lower
// index). The eight lanes vectorise.
void BruteRange(const float* pu, const float* pv, int64_t n, const Codebook& c, uint8_t* labels,
                float* dist) {
  constexpr int kLanes = 8;
  const int k = static_cast<int>(c.cu.size());
  const float* cu = c.cu.data();
  const float* cv = c.cv.data();
  int64_t i0 = 0;
  for (; i0 + kLanes <= n; i0 += kLanes) {
    float a[kLanes], b[kLanes], best[kLanes];
    int32_t lab[kLanes];
    for (int l = 0; l < kLanes; ++l) {
      a[l] = pu[i0 + l];
      b[l] = pv[i0 + l];
      best[l] = Dist(a[l], b[l], cu[0], cv[0]);
      lab[l] = 0;
    }
    for (int j = 1; j < k; ++j) {
      const float x = cu[j], y = cv[j];
      for (int l = 0; l < kLanes; ++l) {
        const float d = Dist(a[l], b[l], x, y);
        const bool lt = d < best[l];
        best[l] = lt ? d : best[l];
        lab[l] = lt ? j : lab[l];
      }
    }
    for (int l = 0; l < kLanes; ++l) labels[i0 + l] = static_cast<uint8_t>(lab[l]);
    if (dist != nullptr) {
      for (int l = 0; l < kLanes; ++l) dist[i0 + l] = best[l];
    }
  }
  for (; i0 < n; ++i0) {
    float best = Dist(pu[i0], pv[i0], cu[0], cv[0]);
    int lab = 0;
    for (int j = 1; j < k; ++j) {
      const float d = Dist(pu[i0], pv[i0], cu[j], cv[j]);
      if (d < best) {
        best = d;
        lab = j;
      }
    }
    labels[i0] = static_cast<uint8_t>(lab);
    if (dist != nullptr) dist[i0] = best;
  }
}

// Nearest-centroid search pruned by a uniform grid over the points' bounding box: each cell
// lists (in index order) the centroids that can be nearest to some point of the cell, namely
// those whose distance to the cell is at most D = min over centroids of their farthest
// distance to the cell (with a margin for float rounding, and cells enlarged by 1e-3 of their
// width so that a point rounded into a neighbouring cell is still covered).
class Grid {
 public:
  static constexpr int kCells = 32;

  Grid(const Codebook& c, float u0, float u1, float v0, float v1) : c_(c) {
    const double wu = Width(u0, u1), wv = Width(v0, v1);
    u0_ = u0;
    v0_ = v0;
    inv_wu_ = static_cast<float>(1.0 / wu);
    inv_wv_ = static_cast<float>(1.0 / wv);
    const int k = static_cast<int>(c.cu.size());
    start_.assign(kCells * kCells + 1, 0);
    std::vector<double> dmin(static_cast<size_t>(k));
    for (int cy = 0; cy < kCells; ++cy) {
      for (int cx = 0; cx < kCells; ++cx) {
        const double ru0 = u0 + (cx - 1e-3) * wu, ru1 = u0 + (cx + 1 + 1e-3) * wu;
        const double rv0 = v0 + (cy - 1e-3) * wv, rv1 = v0 + (cy + 1 + 1e-3) * wv;
        double bound = std::numeric_limits<double>::infinity();
        for (int j = 0; j < k; ++j) {
          const double cu = c.cu[static_cast<size_t>(j)], cv = c.cv[static_cast<size_t>(j)];
          const double nu = std::max({0.0, ru0 - cu, cu - ru1}), nv = std::max({0.0, rv0 - cv, cv - rv1});
          const double fu = std::max(std::fabs(cu - ru0), std::fabs(cu - ru1));
          const double fv = std::max(std::fabs(cv - rv0), std::fabs(cv - rv1));
          dmin[static_cast<size_t>(j)] = nu * nu + nv * nv;
          bound = std::min(bound, fu * fu + fv * fv);
        }
        bound = bound * (1 + 1e-5) + 1e-30;
        for (int j = 0; j < k; ++j) {
          if (dmin[static_cast<size_t>(j)] <= bound) cand_.push_back(static_cast<uint8_t>(j));
        }
        start_[static_cast<size_t>(cy * kCells + cx + 1)] = static_cast<int32_t>(cand_.size());
      }
    }
  }

  void Assign(const float* pu, const float* pv, int64_t n, uint8_t* labels, float* dist) const {
    for (int64_t i = 0; i < n; ++i) {
      const int cx = Cell((pu[i] - u0_) * inv_wu_);
      const int cy = Cell((pv[i] - v0_) * inv_wv_);
      const int cell = cy * kCells + cx;
      float best = std::numeric_limits<float>::infinity();
      int lab = 0;
      for (int32_t t = start_[static_cast<size_t>(cell)]; t < start_[static_cast<size_t>(cell) + 1]; ++t) {
        const int j = cand_[static_cast<size_t>(t)];
        const float d = Dist(pu[i], pv[i], c_.cu[static_cast<size_t>(j)], c_.cv[static_cast<size_t>(j)]);
        if (d < best) {
          best = d;
          lab = j;
        }
      }
      labels[i] = static_cast<uint8_t>(lab);
      if (dist != nullptr) dist[i] = best;
    }
  }

 private:
  static double Width(float lo, float hi) {
    const double w = (static_cast<double>(hi) - lo) / kCells;
    return w > 0 ? w : std::max(1.0, std::fabs(static_cast<double>(lo))) * 1e-6;
  }
  static int Cell(float t) {
    // t >= 0 up to rounding; NaN cannot occur for finite points.
    const int c = static_cast<int>(t);
    return c < 0 ? 0 : (c >= kCells ? kCells - 1 : c);
  }

  const Codebook& c_;
  float u0_, v0_, inv_wu_, inv_wv_;
  std::vector<int32_t> start_;
  std::vector<uint8_t> cand_;
};

struct Bounds {
  float u0, u1, v0, v1;
};

Bounds BoundsOf(const float* pu, const float* pv, int64_t n) {
  const auto [umin, umax] = std::minmax_element(pu, pu + n);
  const auto [vmin, vmax] = std::minmax_element(pv, pv + n);
  return {*umin, *umax, *vmin, *vmax};
}

// Per-centroid sums of one block of points, in point order.
void Accumulate(const float* pu, const float* pv, const uint8_t* labels, int64_t n, CentroidSums* s) {
  for (int64_t i = 0; i < n; ++i) {
    const size_t l = labels[i];
    ++s->count[l];
    s->su[l] += pu[i];
    s->sv[l] += pv[i];
  }
}

// Assigns points [0, n) and returns the sums, in parallel blocks of kSumBlock points combined
// in block order. The grid (k > kBruteMaxK) is built once over all n points.
CentroidSums AssignAndSum(const float* pu, const float* pv, int64_t n, const Codebook& c, uint8_t* labels,
                          float* dist) {
  const int k = static_cast<int>(c.cu.size());
  const int64_t blocks = (n + kSumBlock - 1) / kSumBlock;
  std::vector<CentroidSums> parts(static_cast<size_t>(blocks), CentroidSums(k));
  std::unique_ptr<Grid> grid;
  if (k > kBruteMaxK && n > 0) {
    // Bounds of all points, from per-block bounds (min and max do not depend on the order).
    std::vector<Bounds> bb(static_cast<size_t>(blocks));
    ParallelFor(0, blocks, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        const int64_t s = b * kSumBlock;
        bb[static_cast<size_t>(b)] = BoundsOf(pu + s, pv + s, std::min(kSumBlock, n - s));
      }
    });
    Bounds all = bb[0];
    for (const Bounds& x : bb) {
      all = {std::min(all.u0, x.u0), std::max(all.u1, x.u1), std::min(all.v0, x.v0), std::max(all.v1, x.v1)};
    }
    grid = std::make_unique<Grid>(c, all.u0, all.u1, all.v0, all.v1);
  }
  ParallelFor(0, blocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t s = b * kSumBlock;
      const int64_t len = std::min(kSumBlock, n - s);
      float* d = dist == nullptr ? nullptr : dist + s;
      if (grid != nullptr) {
        grid->Assign(pu + s, pv + s, len, labels + s, d);
      } else {
        BruteRange(pu + s, pv + s, len, c, labels + s, d);
      }
      Accumulate(pu + s, pv + s, labels + s, len, &parts[static_cast<size_t>(b)]);
    }
  });
  CentroidSums total(k);
  for (const CentroidSums& p : parts) total.Add(p);
  return total;
}

}  // namespace

std::vector<int64_t> SampleIndices(int64_t n, int64_t sample_size, uint64_t seed) {
  std::vector<int64_t> idx;
  if (n <= sample_size) {
    idx.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) idx[static_cast<size_t>(i)] = i;
    return idx;
  }
  idx.resize(static_cast<size_t>(sample_size));
  for (int64_t i = 0; i < sample_size; ++i) {
    // n < 2^40 and sample_size < 2^20: the products fit in 64 bits.
    const int64_t lo = i * n / sample_size, hi = (i + 1) * n / sample_size;
    const double u = SeededUniform(seed, kStreamKMeansInit, static_cast<uint64_t>(i));
    idx[static_cast<size_t>(i)] =
        std::min(hi - 1, lo + static_cast<int64_t>(u * static_cast<double>(hi - lo)));
  }
  return idx;
}

std::vector<int64_t> PilotIndices(int64_t m, int64_t pilot_size) {
  const int64_t p = std::min(m, pilot_size);
  std::vector<int64_t> idx(static_cast<size_t>(p));
  for (int64_t i = 0; i < p; ++i) idx[static_cast<size_t>(i)] = i * m / p;
  return idx;
}

uint64_t RestartSeed(uint64_t seed, int restart) {
  return restart == 0 ? seed : Mix64(seed + static_cast<uint64_t>(restart));
}

Codebook KMeansPlusPlus(const float* pu, const float* pv, int64_t m, int k, uint64_t seed) {
  Codebook c;
  c.cu.resize(static_cast<size_t>(k));
  c.cv.resize(static_cast<size_t>(k));
  if (m == 0) return c;
  const double u0 = SeededUniform(seed, kStreamKMeansInit, kPlusPlusStreamOffset);
  const int64_t first = std::min(m - 1, static_cast<int64_t>(u0 * static_cast<double>(m)));
  c.cu[0] = pu[first];
  c.cv[0] = pv[first];
  std::vector<float> d(static_cast<size_t>(m));
  for (int64_t i = 0; i < m; ++i) d[static_cast<size_t>(i)] = Dist(pu[i], pv[i], c.cu[0], c.cv[0]);
  for (int t = 1; t < k; ++t) {
    double total = 0;
    for (int64_t i = 0; i < m; ++i) total += d[static_cast<size_t>(i)];
    int64_t pick = first;
    if (total > 0) {
      const double target =
          SeededUniform(seed, kStreamKMeansInit, kPlusPlusStreamOffset + static_cast<uint64_t>(t)) * total;
      double cum = 0;
      int64_t last_positive = first;
      pick = -1;
      for (int64_t i = 0; i < m; ++i) {
        if (d[static_cast<size_t>(i)] > 0) last_positive = i;
        cum += d[static_cast<size_t>(i)];
        if (cum > target) {
          pick = i;
          break;
        }
      }
      if (pick < 0) pick = last_positive;  // rounding left target beyond the last sum
    }
    c.cu[static_cast<size_t>(t)] = pu[pick];
    c.cv[static_cast<size_t>(t)] = pv[pick];
    for (int64_t i = 0; i < m; ++i) {
      d[static_cast<size_t>(i)] =
          std::min(d[static_cast<size_t>(i)],
                   Dist(pu[i], pv[i], c.cu[static_cast<size_t>(t)], c.cv[static_cast<size_t>(t)]));
    }
  }
  return c;
}

double Distortion(const float* pu, const float* pv, int64_t n, const Codebook& c) {
  if (n == 0) return 0;
  std::vector<uint8_t> labels(static_cast<size_t>(n));
  std::vector<float> dist(static_cast<size_t>(n));
  BruteRange(pu, pv, n, c, labels.data(), dist.data());
  double s = 0;
  for (float d : dist) s += d;
  return s / static_cast<double>(n);
}

void AssignBrute(const float* pu, const float* pv, int64_t n, const Codebook& c, uint8_t* labels) {
  BruteRange(pu, pv, n, c, labels, nullptr);
}

void AssignGrid(const float* pu, const float* pv, int64_t n, const Codebook& c, uint8_t* labels) {
  if (n == 0) return;
  const Bounds b = BoundsOf(pu, pv, n);
  Grid(c, b.u0, b.u1, b.v0, b.v1).Assign(pu, pv, n, labels, nullptr);
}

namespace {

// Step 3's Lloyd iterations from *c on points [0, m), until the labels repeat or
// max_iterations assignments; returns the distortion (squared distances summed in point order)
// of the final centroids.
double Lloyd(const float* pu, const float* pv, int64_t m, const KMeansOptions& o, Codebook* c) {
  std::vector<uint8_t> lab(static_cast<size_t>(m)), prev(static_cast<size_t>(m));
  std::vector<float> dist(static_cast<size_t>(m));
  for (int it = 1; it <= o.max_iterations; ++it) {
    CentroidSums sums = AssignAndSum(pu, pv, m, *c, lab.data(), dist.data());
    c->iterations = it;
    if (it > 1 && lab == prev) break;
    prev.swap(lab);
    SetMeans(sums, c);
    for (int j = 0; j < o.k; ++j) {
      if (sums.count[static_cast<size_t>(j)] > 0) continue;
      // Empty: move it onto the farthest point (lowest index on ties) not used yet.
      int64_t far = -1;
      for (int64_t i = 0; i < m; ++i) {
        if (dist[static_cast<size_t>(i)] >= 0 &&
            (far < 0 || dist[static_cast<size_t>(i)] > dist[static_cast<size_t>(far)]))
          far = i;
      }
      if (far < 0) break;
      c->cu[static_cast<size_t>(j)] = pu[far];
      c->cv[static_cast<size_t>(j)] = pv[far];
      dist[static_cast<size_t>(far)] = -1;
    }
  }
  AssignAndSum(pu, pv, m, *c, lab.data(), dist.data());
  double d = 0;
  for (float x : dist) d += x;
  return d;
}

}  // namespace

Codebook FitSample(const float* su, const float* sv, int64_t m, const KMeansOptions& o) {
  const std::vector<int64_t> pidx = PilotIndices(m, o.pilot_size);
  const int64_t p = static_cast<int64_t>(pidx.size());
  std::vector<float> qu(static_cast<size_t>(p)), qv(static_cast<size_t>(p));
  for (int64_t i = 0; i < p; ++i) {
    qu[static_cast<size_t>(i)] = su[pidx[static_cast<size_t>(i)]];
    qv[static_cast<size_t>(i)] = sv[pidx[static_cast<size_t>(i)]];
  }
  // Restarts are independent: run them in parallel, keep the lowest distortion (first on ties).
  std::vector<Codebook> fits(static_cast<size_t>(o.restarts));
  std::vector<double> distortion(static_cast<size_t>(o.restarts));
  ParallelFor(0, o.restarts, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      Codebook& c = fits[static_cast<size_t>(t)];
      c = KMeansPlusPlus(qu.data(), qv.data(), p, o.k, RestartSeed(o.seed, static_cast<int>(t)));
      distortion[static_cast<size_t>(t)] = Lloyd(qu.data(), qv.data(), p, o, &c);
    }
  });
  size_t best = 0;
  for (size_t t = 1; t < fits.size(); ++t) {
    if (distortion[t] < distortion[best]) best = t;
  }
  Codebook c = std::move(fits[best]);
  if (p < m) Lloyd(su, sv, m, o, &c);
  return c;
}

void SetMeans(const CentroidSums& sums, Codebook* c) {
  for (size_t j = 0; j < sums.count.size(); ++j) {
    if (sums.count[j] > 0) {
      c->cu[j] = static_cast<float>(sums.su[j] / static_cast<double>(sums.count[j]));
      c->cv[j] = static_cast<float>(sums.sv[j] / static_cast<double>(sums.count[j]));
    }
  }
}

Codebook KMeans2D(const float* pu, const float* pv, int64_t n, const KMeansOptions& o, uint8_t* labels) {
  const std::vector<int64_t> idx = SampleIndices(n, o.sample_size, o.seed);
  const int64_t m = static_cast<int64_t>(idx.size());
  std::vector<float> su(static_cast<size_t>(m)), sv(static_cast<size_t>(m));
  for (int64_t i = 0; i < m; ++i) {
    su[static_cast<size_t>(i)] = pu[idx[static_cast<size_t>(i)]];
    sv[static_cast<size_t>(i)] = pv[idx[static_cast<size_t>(i)]];
  }
  Codebook c = FitSample(su.data(), sv.data(), m, o);
  // All points, then the means of their clusters.
  SetMeans(AssignAndSum(pu, pv, n, c, labels, nullptr), &c);
  return c;
}

}  // namespace quantd::kashin_internal
