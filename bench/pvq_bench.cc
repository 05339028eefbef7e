// PVQ throughput: encode and decode of the 4096 x 4096 heavy-tailed F32 matrix of throughput.h
// (weights per second; with threads=1, per core; and bytes per second as a ratio to memcpy of the
// same buffer in the same run), the pyramid search per group, and the Fischer enumeration on the
// core's fixed-width integers against GMP (linked into this benchmark only; the core may not
// depend on it).
//   build/bin/pvq_bench --benchmark_counters_tabular=true
// Encode/decode arguments: bits x 1000, threads (0 = all cores), group size D, search (1: exact).
#include <benchmark/benchmark.h>
#include <tbb/task_arena.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/pvq/pvq.h"
#include "quantd/core/quantize.h"
#include "throughput.h"
#if QUANTD_HAVE_GMP
#include <gmp.h>
#endif

namespace quantd::bench {
namespace {

Params PvqParams(const benchmark::State& state) {
  return Params{{"bits", FormatDouble(state.range(0) / 1000.0)},
                {"group_size", std::to_string(state.range(2))},
                {"search", state.range(3) ? "exact" : "greedy"}};
}

void SetRates(benchmark::State& state) {
  state.SetBytesProcessed(state.iterations() * kRows * kCols * 4);
  state.counters["weights/s"] = benchmark::Counter(static_cast<double>(state.iterations() * kRows * kCols),
                                                   benchmark::Counter::kIsRate);
}

void BM_PvqEncode(benchmark::State& state) {
  tbb::task_arena arena(Threads(state));
  const Params p = PvqParams(state);
  for (auto _ : state) {
    arena.execute([&] {
      auto e = EncodeRows(Block(), "pvq", p);
      if (!e.ok()) state.SkipWithError(e.status().ToString().c_str());
      benchmark::DoNotOptimize(e);
    });
  }
  SetRates(state);
}

void BM_PvqDecode(benchmark::State& state) {
  tbb::task_arena arena(Threads(state));
  StatusOr<Encoding> enc = InternalError("unset");
  arena.execute([&] { enc = EncodeRows(Block(), "pvq", PvqParams(state)); });
  std::vector<float> out(kRows * kCols);
  for (auto _ : state) {
    arena.execute([&] { benchmark::DoNotOptimize(DecodeRows(*enc, out)); });
  }
  SetRates(state);
  state.counters["bpw"] = enc->BitsPerWeight();
  state.counters["k"] = static_cast<double>(std::stoi(enc->params.GetString("k", "0")));
}

// An encode of the whole matrix takes seconds: one iteration each.
BENCHMARK(BM_PvqEncode)
    ->ArgsProduct({{3250, 4125}, {1}, {32, 64}, {1, 0}})
    ->ArgNames({"bits_x1000", "threads", "D", "exact"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(1);
BENCHMARK(BM_PvqDecode)
    ->ArgsProduct({{3250, 4125}, {1}, {32, 64}, {1}})
    ->ArgNames({"bits_x1000", "threads", "D", "exact"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_Memcpy)->Unit(benchmark::kMillisecond)->UseRealTime();

// --- Enumeration: core fixed-width integers vs GMP, per group (encode + decode) -------------

struct EnumCase {
  int d, k;
  std::vector<std::vector<int32_t>> points;
};

EnumCase& Points(int d, int k) {
  static std::map<std::pair<int, int>, EnumCase> cases;
  EnumCase& c = cases[{d, k}];
  if (c.points.empty()) {
    c.d = d;
    c.k = k;
    std::mt19937_64 rng(d * 1000 + k);
    std::normal_distribution<float> normal;
    for (int i = 0; i < 256; ++i) {
      std::vector<float> x(d);
      for (float& v : x) v = normal(rng);
      std::vector<int32_t> p(d);
      pvq_internal::SearchPyramid(x.data(), d, k, pvq_internal::SearchMode::kGreedy, p.data());
      c.points.push_back(p);
    }
  }
  return c;
}

void BM_EnumerateCore(benchmark::State& state) {
  const int d = static_cast<int>(state.range(0)), k = static_cast<int>(state.range(1));
  EnumCase& c = Points(d, k);
  auto table = pvq_internal::GetPyramidTable(d, k);
  std::vector<int32_t> back(d);
  size_t i = 0;
  pvq_internal::DispatchWords(table->words(), [&](auto wc) {
    constexpr int W = decltype(wc)::value;
    for (auto _ : state) {
      const auto& p = c.points[i++ % c.points.size()];
      const auto index = pvq_internal::EncodePyramid<W>(*table, p.data(), d, k);
      benchmark::DoNotOptimize(pvq_internal::DecodePyramid<W>(*table, index, d, k, back.data()));
    }
  });
  state.counters["index_bits"] = pvq_internal::PyramidIndexBits(d, k);
}

#if QUANTD_HAVE_GMP
// The same enumeration (pvq_index.h) on GMP integers, with the table as mpz_t.
class GmpTable {
 public:
  GmpTable(int d, int k) : d_(d), k_(k), n_(static_cast<size_t>((d + 1) * (k + 1))) {
    for (auto& v : n_) mpz_init(&v);
    for (int l = 0; l <= d; ++l) mpz_set_ui(at(l, 0), 1);
    for (int l = 1; l <= d; ++l) {
      for (int j = 1; j <= k; ++j) {
        mpz_add(at(l, j), at(l - 1, j), at(l - 1, j - 1));
        mpz_add(at(l, j), at(l, j), at(l, j - 1));
      }
    }
  }
  ~GmpTable() {
    for (auto& v : n_) mpz_clear(&v);
  }
  mpz_ptr at(int l, int k) { return &n_[static_cast<size_t>(l * (k_ + 1) + k)]; }

  void Encode(const int32_t* p, mpz_t index) {
    mpz_set_ui(index, 0);
    int k = k_;
    for (int i = 0; i < d_ && k > 0; ++i) {
      const int l = d_ - i, a = std::abs(p[i]);
      if (a == 0) continue;
      mpz_add(index, index, at(l - 1, k));
      for (int j = 1; j < a; ++j) {
        mpz_add(index, index, at(l - 1, k - j));
        mpz_add(index, index, at(l - 1, k - j));
      }
      if (p[i] < 0) mpz_add(index, index, at(l - 1, k - a));
      k -= a;
    }
  }

  void Decode(mpz_t index, int32_t* p) {
    int k = k_, i = 0;
    for (; i < d_ && k > 0; ++i) {
      const int l = d_ - i;
      if (l == 1) {
        p[i] = mpz_sgn(index) == 0 ? k : -k;
        k = 0;
        continue;
      }
      if (mpz_cmp(index, at(l - 1, k)) < 0) {
        p[i] = 0;
        continue;
      }
      mpz_sub(index, index, at(l - 1, k));
      int j = 1;
      for (;; ++j) {
        mpz_ptr n = at(l - 1, k - j);
        if (mpz_cmp(index, n) < 0) {
          p[i] = j;
          break;
        }
        mpz_sub(index, index, n);
        if (mpz_cmp(index, n) < 0) {
          p[i] = -j;
          break;
        }
        mpz_sub(index, index, n);
      }
      k -= j;
    }
    for (; i < d_; ++i) p[i] = 0;
  }

 private:
  int d_, k_;
  std::vector<__mpz_struct> n_;
};

void BM_EnumerateGmp(benchmark::State& state) {
  const int d = static_cast<int>(state.range(0)), k = static_cast<int>(state.range(1));
  EnumCase& c = Points(d, k);
  GmpTable table(d, k);
  mpz_t index;
  mpz_init(index);
  std::vector<int32_t> back(d);
  size_t i = 0;
  for (auto _ : state) {
    const auto& p = c.points[i++ % c.points.size()];
    table.Encode(p.data(), index);
    table.Decode(index, back.data());
    benchmark::DoNotOptimize(back.data());
  }
  if (back != c.points[(i - 1) % c.points.size()]) state.SkipWithError("GMP round trip mismatch");
  mpz_clear(index);
}
#endif

// K at about 1, 3 and 4 bits per dimension of index (Fischer's counts).
void EnumerationArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"D", "K"});
  for (auto [d, k] : {std::pair{32, 23}, {32, 51}, {32, 106}, {64, 97}, {64, 200}, {128, 188}, {128, 387}}) {
    b->Args({d, k});
  }
}
BENCHMARK(BM_EnumerateCore)->Apply(EnumerationArgs);
#if QUANTD_HAVE_GMP
BENCHMARK(BM_EnumerateGmp)->Apply(EnumerationArgs);
#endif

// --- Search per group ----------------------------------------------------------------------

void BM_Search(benchmark::State& state) {
  const int d = static_cast<int>(state.range(0)), k = static_cast<int>(state.range(1));
  const auto mode = state.range(2) ? pvq_internal::SearchMode::kExact : pvq_internal::SearchMode::kGreedy;
  std::mt19937_64 rng(5);
  std::normal_distribution<float> normal;
  std::vector<std::vector<float>> groups(256, std::vector<float>(d));
  for (auto& g : groups) {
    for (float& v : g) v = normal(rng);
  }
  std::vector<int32_t> p(d);
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        pvq_internal::SearchPyramid(groups[i++ % groups.size()].data(), d, k, mode, p.data()));
  }
}
BENCHMARK(BM_Search)
    ->ArgsProduct({{32}, {54, 103}, {0, 1}})
    ->ArgsProduct({{64}, {109, 206}, {0, 1}})
    ->ArgNames({"D", "K", "exact"});

}  // namespace
}  // namespace quantd::bench

int main(int argc, char** argv) { return quantd::bench::RunWithRatios(argc, argv); }
