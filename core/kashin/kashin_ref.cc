// Reference Kashin kernels: the greedy decomposition and the 2-D k-means exactly as kashin.h
// defines them, written as plainly as possible and kept as the specification the fast paths
// are tested against.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kashin/kashin.h"

namespace quantd::kashin_internal {
namespace {

double Sign(double a) { return a > 0 ? 1.0 : (a < 0 ? -1.0 : 0.0); }

float Dist(float pu, float pv, float cu, float cv) {
  const float du = pu - cu;
  const float dv = pv - cv;
  return du * du + dv * dv;
}

// Nearest centroid (lowest index on ties) and its distance.
int Nearest(float pu, float pv, const Codebook& c, float* dist) {
  int best = 0;
  float d_best = Dist(pu, pv, c.cu[0], c.cv[0]);
  for (size_t j = 1; j < c.cu.size(); ++j) {
    const float d = Dist(pu, pv, c.cu[j], c.cv[j]);
    if (d < d_best) {
      d_best = d;
      best = static_cast<int>(j);
    }
  }
  *dist = d_best;
  return best;
}

// Per-centroid counts and sums of the labelled points, in blocks of kSumBlock points (each
// summed in point order), blocks added in order.
void SumClusters(const float* pu, const float* pv, const uint8_t* labels, int64_t n, int k,
                 std::vector<int64_t>* count, std::vector<double>* su, std::vector<double>* sv) {
  count->assign(static_cast<size_t>(k), 0);
  su->assign(static_cast<size_t>(k), 0.0);
  sv->assign(static_cast<size_t>(k), 0.0);
  for (int64_t b = 0; b < n; b += kSumBlock) {
    std::vector<int64_t> bc(static_cast<size_t>(k), 0);
    std::vector<double> bu(static_cast<size_t>(k), 0.0), bv(static_cast<size_t>(k), 0.0);
    for (int64_t i = b; i < std::min(n, b + kSumBlock); ++i) {
      bc[labels[i]] += 1;
      bu[labels[i]] += pu[i];
      bv[labels[i]] += pv[i];
    }
    for (int j = 0; j < k; ++j) {
      (*count)[static_cast<size_t>(j)] += bc[static_cast<size_t>(j)];
      (*su)[static_cast<size_t>(j)] += bu[static_cast<size_t>(j)];
      (*sv)[static_cast<size_t>(j)] += bv[static_cast<size_t>(j)];
    }
  }
}

void MoveToMeans(const std::vector<int64_t>& count, const std::vector<double>& su, const std::vector<double>& sv,
                 Codebook* c) {
  for (size_t j = 0; j < count.size(); ++j) {
    if (count[j] > 0) {
      c->cu[j] = static_cast<float>(su[j] / static_cast<double>(count[j]));
      c->cv[j] = static_cast<float>(sv[j] / static_cast<double>(count[j]));
    }
  }
}

// Lloyd from *c on the m points until the labels repeat or max_iterations assignments; returns
// the final distortion (squared distances summed in point order).
double LloydRef(const std::vector<float>& pu, const std::vector<float>& pv, const KMeansOptions& o, Codebook* c) {
  const int64_t m = static_cast<int64_t>(pu.size());
  std::vector<uint8_t> lab(static_cast<size_t>(m)), prev(static_cast<size_t>(m));
  std::vector<float> dist(static_cast<size_t>(m));
  std::vector<int64_t> count;
  std::vector<double> sum_u, sum_v;
  for (int it = 1; it <= o.max_iterations; ++it) {
    for (int64_t i = 0; i < m; ++i) {
      lab[static_cast<size_t>(i)] = static_cast<uint8_t>(Nearest(pu[static_cast<size_t>(i)], pv[static_cast<size_t>(i)], *c, &dist[static_cast<size_t>(i)]));
    }
    c->iterations = it;
    if (it > 1 && lab == prev) break;
    prev = lab;
    SumClusters(pu.data(), pv.data(), lab.data(), m, o.k, &count, &sum_u, &sum_v);
    MoveToMeans(count, sum_u, sum_v, c);
    // Empty clusters move onto the point farthest from its centroid, each point once.
    for (int j = 0; j < o.k; ++j) {
      if (count[static_cast<size_t>(j)] > 0) continue;
      int64_t far = -1;
      for (int64_t i = 0; i < m; ++i) {
        if (dist[static_cast<size_t>(i)] >= 0 && (far < 0 || dist[static_cast<size_t>(i)] > dist[static_cast<size_t>(far)])) far = i;
      }
      if (far < 0) break;
      c->cu[static_cast<size_t>(j)] = pu[static_cast<size_t>(far)];
      c->cv[static_cast<size_t>(j)] = pv[static_cast<size_t>(far)];
      dist[static_cast<size_t>(far)] = -1;
    }
  }
  double distortion = 0;
  for (int64_t i = 0; i < m; ++i) {
    float d;
    Nearest(pu[static_cast<size_t>(i)], pv[static_cast<size_t>(i)], *c, &d);
    distortion += d;
  }
  return distortion;
}

}  // namespace

GreedyResult DecomposeRef(const Transform& q, const float* x, const GreedyOptions& o, float* u, float* v) {
  const int64_t n = q.size();
  std::vector<double> r(x, x + n), ud(static_cast<size_t>(n), 0.0), vd(static_cast<size_t>(n), 0.0);
  std::vector<double> y(static_cast<size_t>(n)), s(static_cast<size_t>(n));
  double xx = 0;
  for (int64_t i = 0; i < n; ++i) xx += r[static_cast<size_t>(i)] * r[static_cast<size_t>(i)];
  GreedyResult res;
  while (true) {
    double rr = 0;
    for (double a : r) rr += a * a;
    if (rr <= o.tolerance * o.tolerance * xx) {
      res.converged = true;
      break;
    }
    if (res.iterations >= o.max_iterations) break;
    y = r;
    q.Forward(y.data());
    double l1r = 0, l1y = 0;
    int64_t nnzr = 0, nnzy = 0;
    for (int64_t i = 0; i < n; ++i) {
      l1r += std::fabs(r[static_cast<size_t>(i)]);
      nnzr += r[static_cast<size_t>(i)] != 0;
      l1y += std::fabs(y[static_cast<size_t>(i)]);
      nnzy += y[static_cast<size_t>(i)] != 0;
    }
    // Projection onto sign(r) removes l1r^2 / nnzr of energy, onto Q^T sign(Q r) l1y^2 / nnzy.
    if (nnzy == 0 || l1r * l1r / static_cast<double>(nnzr) > l1y * l1y / static_cast<double>(nnzy)) {
      const double c = l1r / static_cast<double>(nnzr);
      for (int64_t i = 0; i < n; ++i) {
        const double step = c * Sign(r[static_cast<size_t>(i)]);
        ud[static_cast<size_t>(i)] += step;
        r[static_cast<size_t>(i)] -= step;
      }
    } else {
      const double c = l1y / static_cast<double>(nnzy);
      for (int64_t i = 0; i < n; ++i) {
        s[static_cast<size_t>(i)] = Sign(y[static_cast<size_t>(i)]);
        vd[static_cast<size_t>(i)] += c * s[static_cast<size_t>(i)];
      }
      q.Inverse(s.data());
      for (int64_t i = 0; i < n; ++i) r[static_cast<size_t>(i)] -= c * s[static_cast<size_t>(i)];
    }
    ++res.iterations;
  }
  // Residual x - u - Q^T v, recomputed from the factors.
  std::vector<double> back = vd;
  q.Inverse(back.data());
  double ee = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double e = static_cast<double>(x[i]) - ud[static_cast<size_t>(i)] - back[static_cast<size_t>(i)];
    ee += e * e;
  }
  res.residual = xx > 0 ? std::sqrt(ee / xx) : 0.0;
  if (xx == 0) res.converged = true;
  for (int64_t i = 0; i < n; ++i) {
    u[i] = static_cast<float>(ud[static_cast<size_t>(i)]);
    v[i] = static_cast<float>(vd[static_cast<size_t>(i)]);
  }
  return res;
}

Codebook KMeans2DRef(const float* pu, const float* pv, int64_t n, const KMeansOptions& o, uint8_t* labels) {
  std::vector<float> su, sv;
  for (int64_t i : SampleIndices(n, o.sample_size, o.seed)) {
    su.push_back(pu[i]);
    sv.push_back(pv[i]);
  }
  std::vector<float> qu, qv;
  for (int64_t i : PilotIndices(static_cast<int64_t>(su.size()), o.pilot_size)) {
    qu.push_back(su[static_cast<size_t>(i)]);
    qv.push_back(sv[static_cast<size_t>(i)]);
  }
  Codebook best;
  double best_distortion = 0;
  for (int t = 0; t < o.restarts; ++t) {
    Codebook c = KMeansPlusPlus(qu.data(), qv.data(), static_cast<int64_t>(qu.size()), o.k, RestartSeed(o.seed, t));
    const double distortion = LloydRef(qu, qv, o, &c);
    if (t == 0 || distortion < best_distortion) {
      best = c;
      best_distortion = distortion;
    }
  }
  if (qu.size() < su.size()) LloydRef(su, sv, o, &best);
  float unused;
  for (int64_t i = 0; i < n; ++i) labels[i] = static_cast<uint8_t>(Nearest(pu[i], pv[i], best, &unused));
  std::vector<int64_t> count;
  std::vector<double> sum_u, sum_v;
  SumClusters(pu, pv, labels, n, o.k, &count, &sum_u, &sum_v);
  MoveToMeans(count, sum_u, sum_v, &best);
  return best;
}

}  // namespace quantd::kashin_internal
