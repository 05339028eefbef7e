#include "core/pvq/pvq_gain.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <deque>
#include <mutex>
#include <tuple>

namespace quantd::pvq_internal {
namespace {

constexpr int kCells = 8192;          // integration cells over the support
constexpr double kSupportLog = 50.0;  // support: density within e^-50 of its peak
constexpr int kLloydIterations = 200;

// ln 2 split so that k * kLn2Hi is exact for |k| < 2^11.
constexpr double kLn2Hi = 6.93147180369123816490e-01;
constexpr double kLn2Lo = 1.90821492927058770002e-10;

// Log-density of r, up to a constant: (d-1) log r + e log(1 - r^2), e = (n-d)/2 - 1.
class AmplitudeDensity {
 public:
  AmplitudeDensity(int d, int64_t n) : a_(d - 1.0), e_(static_cast<double>(n - d) / 2.0 - 1.0) {}

  double Log(double r) const {
    const double inf = std::numeric_limits<double>::infinity();
    double v = 0;
    if (a_ != 0) v += r > 0 ? a_ * DetLog(r) : -inf;
    if (e_ != 0) {
      const double q = 1 - r * r;
      if (q > 0) {
        v += e_ * DetLog(q);
      } else {
        v += e_ > 0 ? -inf : inf;
      }
    }
    return v;
  }

  // The peak of the density on [0, 1].
  double Mode() const {
    if (e_ <= 0) return 1.0;  // non-decreasing (n - d <= 2)
    if (a_ == 0) return 0.0;  // non-increasing (d == 1)
    return std::sqrt(a_ / (a_ + 2 * e_));
  }

 private:
  double a_, e_;
};

// The density tabulated on kCells equal cells of [lo, hi], with the cumulative mass and first
// moment at the cell edges (piecewise-constant density inside a cell).
struct Tabulated {
  double lo = 0, hi = 1, h = 0;
  std::vector<double> density;  // per cell, relative to the peak
  std::vector<double> mass;     // kCells + 1 edges
  std::vector<double> moment;   // kCells + 1 edges

  // Mass and first moment of [lo, r].
  std::pair<double, double> Cumulative(double r) const {
    if (r <= lo) return {0.0, 0.0};
    if (r >= hi) return {mass.back(), moment.back()};
    int i = static_cast<int>((r - lo) / h);
    i = std::min(std::max(i, 0), kCells - 1);
    const double left = lo + i * h;
    return {mass[i] + density[i] * (r - left), moment[i] + density[i] * (r * r - left * left) / 2};
  }

  // The r with Cumulative(r).first == m (inverse of the piecewise-linear CDF).
  double Quantile(double m) const {
    if (m <= 0) return lo;
    if (m >= mass.back()) return hi;
    const int i = static_cast<int>(std::upper_bound(mass.begin(), mass.end(), m) - mass.begin()) - 1;
    const int c = std::min(std::max(i, 0), kCells - 1);
    const double left = lo + c * h;
    return density[c] > 0 ? left + (m - mass[c]) / density[c] : left;
  }
};

Tabulated Tabulate(int d, int64_t n) {
  const AmplitudeDensity f(d, n);
  const double mode = f.Mode();
  // Reference log-density: the peak, or just inside [0, 1] where the peak is infinite.
  double peak = f.Log(mode);
  if (!std::isfinite(peak)) peak = f.Log(mode > 0.5 ? 1 - 0x1p-20 : 0x1p-20);
  const double floor_log = peak - kSupportLog;
  // The support ends: bisection on each monotone side of the mode.
  auto edge = [&](double inside, double outside) {
    if (f.Log(outside) >= floor_log) return outside;
    for (int it = 0; it < 100; ++it) {
      const double mid = 0.5 * (inside + outside);
      if (mid == inside || mid == outside) break;
      (f.Log(mid) >= floor_log ? inside : outside) = mid;
    }
    return outside;
  };
  Tabulated t;
  t.lo = edge(mode, 0.0);
  t.hi = edge(mode, 1.0);
  t.h = (t.hi - t.lo) / kCells;
  t.density.resize(kCells);
  t.mass.assign(kCells + 1, 0.0);
  t.moment.assign(kCells + 1, 0.0);
  for (int i = 0; i < kCells; ++i) {
    const double left = t.lo + i * t.h, right = left + t.h, mid = left + t.h / 2;
    const double l = f.Log(mid) - peak;
    t.density[i] = l < -700 ? 0.0 : DetExp(std::min(l, 700.0));
    t.mass[i + 1] = t.mass[i] + t.density[i] * t.h;
    t.moment[i + 1] = t.moment[i] + t.density[i] * (right * right - left * left) / 2;
  }
  return t;
}

}  // namespace

double DetLog(double x) {
  assert(x > 0 && std::isfinite(x));
  int e;
  double m = std::frexp(x, &e);  // x = m 2^e, m in [0.5, 1), exact
  if (m < 0.70710678118654752440) {
    m *= 2;
    --e;
  }
  // log m = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.1716: the series converges fast.
  const double s = (m - 1) / (m + 1), s2 = s * s;
  double sum = 0;
  for (int k = 31; k >= 1; k -= 2) sum = sum * s2 + 1.0 / k;
  const double log_m = 2 * s * sum;
  return (e * kLn2Hi + log_m) + e * kLn2Lo;
}

double DetExp(double x) {
  if (x < -745.2) return 0.0;
  if (x > 709.78) return std::numeric_limits<double>::infinity();
  const double k = std::nearbyint(x / 0.69314718055994530942);
  const double r = (x - k * kLn2Hi) - k * kLn2Lo;  // |r| <= 0.35
  double sum = 1;
  for (int i = 24; i >= 1; --i) sum = 1 + sum * r / i;  // Horner on the Taylor series
  return std::ldexp(sum, static_cast<int>(k));
}

std::vector<double> ComputeGainLevels(int d, int64_t n, int bits, GainCodebook kind) {
  assert(d >= 1 && n > d && bits >= 1 && bits <= 8);
  const Tabulated t = Tabulate(d, n);
  const int count = 1 << bits;
  const double total = t.mass.back();
  std::vector<double> levels(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) levels[i] = t.Quantile(total * (i + 0.5) / count);
  if (kind == GainCodebook::kQuantile) return levels;
  // Lloyd-Max: cells bounded by midpoints between levels, each level moved to its cell's
  // centroid; a fixed number of rounds (the levels settle to ~1e-15 well before).
  std::vector<double> next(levels.size());
  for (int it = 0; it < kLloydIterations; ++it) {
    double prev_mass = 0, prev_moment = 0;
    for (int i = 0; i < count; ++i) {
      const double bound = i + 1 < count ? 0.5 * (levels[i] + levels[i + 1]) : t.hi;
      const auto [m, mom] = t.Cumulative(bound);
      const double cell_mass = m - prev_mass;
      next[i] = cell_mass > 0 ? (mom - prev_moment) / cell_mass : levels[i];
      prev_mass = m;
      prev_moment = mom;
    }
    if (next == levels) break;
    levels.swap(next);
  }
  return levels;
}

std::shared_ptr<const std::vector<float>> GetGainCodebook(int d, int64_t n, int bits, GainCodebook kind) {
  using Key = std::tuple<int, int64_t, int, GainCodebook>;
  struct Entry {
    Key key;
    std::shared_ptr<const std::vector<float>> levels;
  };
  constexpr size_t kCapacity = 64;  // bounded, most recently used first
  static std::mutex mu;
  static std::deque<Entry> cache;
  const Key key{d, n, bits, kind};
  {
    std::lock_guard<std::mutex> lock(mu);
    for (auto it = cache.begin(); it != cache.end(); ++it) {
      if (it->key == key) {
        Entry hit = *it;
        cache.erase(it);
        cache.push_front(hit);
        return hit.levels;
      }
    }
  }
  const std::vector<double> levels = ComputeGainLevels(d, n, bits, kind);
  auto rounded = std::make_shared<const std::vector<float>>(levels.begin(), levels.end());
  std::lock_guard<std::mutex> lock(mu);
  cache.push_front({key, rounded});
  if (cache.size() > kCapacity) cache.pop_back();
  return rounded;
}

int NearestLevel(std::span<const float> levels, double v) {
  return NearestLevelIn(levels.data(), static_cast<int>(levels.size()), v);
}

float RoundScale(double r, DType dtype) { return RoundScaleIn(r, dtype); }

float FitRowGains(std::span<const double> fitted, std::span<const float> levels,
                  std::span<const float> tail_levels, DType dtype, std::span<uint8_t> codes) {
  return FitRowGainsIn(fitted.data(), static_cast<int64_t>(fitted.size()), levels.data(),
                       static_cast<int>(levels.size()), tail_levels.data(),
                       static_cast<int>(tail_levels.size()), dtype, codes.data(),
                       static_cast<int64_t>(codes.size()));
}

}  // namespace quantd::pvq_internal
