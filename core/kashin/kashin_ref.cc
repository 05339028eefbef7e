// Reference Kashin kernels: the greedy decomposition and the 2-D k-means exactly as kashin.h
// defines them, written as plainly as possible and kept as the specification the fast paths
// are tested against.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/kashin/kashin.h"

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

void MoveToMeans(const std::vector<int64_t>& count, const std::vector<double>& su,
                 const std::vector<double>& sv, Codebook* c) {
  for (size_t j = 0; j < count.size(); ++j) {
    if (count[j] > 0) {
      c->cu[j] = static_cast<float>(su[j] / static_cast<double>(count[j]));
      c->cv[j] = static_cast<float>(sv[j] / static_cast<double>(count[j]));
    }
  }
}

// Lloyd from *c on the m points until the labels repeat or max_iterations assignments; returns
// the final distortion (squared distances summed in point order).
double LloydRef(const std::vector<float>& pu, const std::vector<float>& pv, const KMeansOptions& o,
                Codebook* c) {
  const int64_t m = static_cast<int64_t>(pu.size());
  std::vector<uint8_t> lab(static_cast<size_t>(m)), prev(static_cast<size_t>(m));
  std::vector<float> dist(static_cast<size_t>(m));
  std::vector<int64_t> count;
  std::vector<double> sum_u, sum_v;
  for (int it = 1; it <= o.max_iterations; ++it) {
    for (int64_t i = 0; i < m; ++i) {
      lab[static_cast<size_t>(i)] = static_cast<uint8_t>(
          Nearest(pu[static_cast<size_t>(i)], pv[static_cast<size_t>(i)], *c, &dist[static_cast<size_t>(i)]));
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
        if (dist[static_cast<size_t>(i)] >= 0 &&
            (far < 0 || dist[static_cast<size_t>(i)] > dist[static_cast<size_t>(far)]))
          far = i;
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

std::vector<GreedyResult> DecomposeSliceRef(std::span<const VectorTask> tasks, const GreedyOptions& o) {
  struct Vector {
    const Transform* q;
    std::vector<double> x, r, u, v;
    double xx = 0;
    GreedyResult res;
    double ResidualEnergy() const {
      double rr = 0;
      for (double a : r) rr += a * a;
      return rr;
    }
    bool Done(double tolerance) const { return ResidualEnergy() <= tolerance * tolerance * xx; }
  };
  std::vector<Vector> vec;
  for (const VectorTask& t : tasks) {
    const size_t n = static_cast<size_t>(t.q->size());
    Vector w;
    w.q = t.q;
    w.x.assign(t.x, t.x + n);
    w.r = w.x;
    w.u.assign(n, 0.0);
    w.v.assign(n, 0.0);
    for (double a : w.x) w.xx += a * a;
    vec.push_back(std::move(w));
  }
  for (int64_t step = 0; step < o.max_iterations; ++step) {
    // For the first shared_steps steps every vector still above its tolerance takes the same
    // kind of step: the one whose projections remove more energy in total (l1^2 / nnz per
    // vector); after that each vector takes the one that removes more of its own.
    struct Candidate {
      Vector* w;
      std::vector<double> y;
      double l1r, l1y;
      int64_t nnzr, nnzy;
    };
    std::vector<Candidate> active;
    double by_u = 0, by_v = 0;
    for (Vector& w : vec) {
      if (w.Done(o.tolerance)) continue;
      Candidate c{&w, w.r, 0, 0, 0, 0};
      w.q->Forward(c.y.data());
      for (size_t i = 0; i < w.r.size(); ++i) {
        c.l1r += std::fabs(w.r[i]);
        c.nnzr += w.r[i] != 0;
        c.l1y += std::fabs(c.y[i]);
        c.nnzy += c.y[i] != 0;
      }
      by_u += c.nnzr > 0 ? c.l1r * c.l1r / static_cast<double>(c.nnzr) : 0.0;
      by_v += c.nnzy > 0 ? c.l1y * c.l1y / static_cast<double>(c.nnzy) : 0.0;
      active.push_back(std::move(c));
    }
    if (active.empty()) break;
    for (Candidate& c : active) {
      Vector& w = *c.w;
      const size_t n = w.r.size();
      const double own_u = c.l1r * c.l1r / static_cast<double>(c.nnzr);
      const double own_v = c.nnzy > 0 ? c.l1y * c.l1y / static_cast<double>(c.nnzy) : 0.0;
      const bool u_step = step < o.shared_steps ? by_u > by_v : own_u > own_v;
      if (u_step || c.nnzy == 0) {
        // Projection onto sign(r): coefficient |r|_1 / nnz(r).
        const double coef = c.l1r / static_cast<double>(c.nnzr);
        for (size_t i = 0; i < n; ++i) {
          const double step_i = coef * Sign(w.r[i]);
          w.u[i] += step_i;
          w.r[i] -= step_i;
        }
      } else {
        // Projection onto Q^T sign(Q r): coefficient |Q r|_1 / nnz(Q r).
        const double coef = c.l1y / static_cast<double>(c.nnzy);
        std::vector<double> s(n);
        for (size_t i = 0; i < n; ++i) {
          s[i] = Sign(c.y[i]);
          w.v[i] += coef * s[i];
        }
        w.q->Inverse(s.data());
        for (size_t i = 0; i < n; ++i) w.r[i] -= coef * s[i];
      }
      ++w.res.iterations;
    }
  }
  std::vector<GreedyResult> out;
  for (size_t k = 0; k < vec.size(); ++k) {
    Vector& w = vec[k];
    w.res.converged = w.Done(o.tolerance);
    // Residual x - u - Q^T v, recomputed from the factors.
    std::vector<double> back = w.v;
    w.q->Inverse(back.data());
    double ee = 0;
    for (size_t i = 0; i < w.x.size(); ++i) {
      const double e = w.x[i] - w.u[i] - back[i];
      ee += e * e;
    }
    w.res.residual = w.xx > 0 ? std::sqrt(ee / w.xx) : 0.0;
    for (size_t i = 0; i < w.x.size(); ++i) {
      tasks[k].u[i] = static_cast<float>(w.u[i]);
      tasks[k].v[i] = static_cast<float>(w.v[i]);
    }
    out.push_back(w.res);
  }
  return out;
}

GreedyResult DecomposeRef(const Transform& q, const float* x, const GreedyOptions& o, float* u, float* v) {
  // One vector: the slice's total is the vector's own, so this is the per-vector greedy rule.
  const VectorTask task{&q, x, u, v};
  return DecomposeSliceRef(std::span<const VectorTask>(&task, 1), o)[0];
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
    Codebook c =
        KMeansPlusPlus(qu.data(), qv.data(), static_cast<int64_t>(qu.size()), o.k, RestartSeed(o.seed, t));
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
