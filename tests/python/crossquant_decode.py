#!/usr/bin/env python3
"""Independent decoder of quantd `crossquant` tensors, written from docs/FORMAT.md alone (standard
library only), checked bit for bit against quantctl's dequantized F32 output.

usage: crossquant_decode.py QUANTIZED.safetensors DEQUANTIZED.safetensors
Binary32 arithmetic is emulated exactly: a product of two binary32 values (or of a small integer
and one) is exact in binary64, so rounding it once to binary32 gives the binary32 product.
"""
import json, math, struct, sys


def f32(x):
    """x rounded to binary32 (nearest, ties to even)."""
    return struct.unpack('<f', struct.pack('<f', x))[0]


def load(path):
    """{name: (flat values, shape)} and the metadata of a safetensors file."""
    b = open(path, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    h = json.loads(b[8:8+n]); data = b[8+n:]
    meta = h.pop('__metadata__', {})
    t = {}
    for k, v in h.items():
        s, e = v['data_offsets']; raw = data[s:e]
        fmt = {'F32': 'f', 'F16': 'e', 'U8': 'B', 'I64': 'q'}[v['dtype']]
        t[k] = (list(struct.unpack('<%d%s' % (len(raw) // struct.calcsize(fmt), fmt), raw)), v['shape'])
    return t, meta


q, meta = load(sys.argv[1]); d, _ = load(sys.argv[2])
checked = 0
for key, val in meta.items():
    if not key.startswith('quantd.tensor.'): continue
    name = key[len('quantd.tensor.'):]; m = json.loads(val)
    assert m['method'] == 'crossquant', m['method']
    N = int(m['params']['bits']); a = float(m['params']['alpha']); qmax = 2**(N-1) - 1
    cols = m['shape'][-1]; rows = 1
    for s in m['shape'][:-1]: rows *= s
    idx, ishape = q[name + '/slices']; codes, cshape = q[name + '/codes']
    tm, _ = q[name + '/row_max']; cm, _ = q[name + '/col_max']
    rb = cshape[1]
    out = [None] * (rows * cols)
    off = [0, 0, 0]
    for si in range(ishape[0]):
        r0, r1, nq, nt, nc = idx[si * 5: si * 5 + 5]
        assert nc == 1 and nt == r1 - r0 == nq
        c = cm[off[2] * cols:(off[2] + 1) * cols]
        V = [f32(math.pow(x, 1.0 - a)) for x in c]
        for i in range(r1 - r0):
            S = f32(math.pow(tm[off[1] + i], a) / qmax)
            row = codes[(off[0] + i) * rb:(off[0] + i + 1) * rb]
            bits = 0
            for k, byte in enumerate(row): bits |= byte << (8 * k)
            for j in range(cols):
                u = (bits >> (j * N)) & ((1 << N) - 1)
                assert u != 0
                out[(r0 + i) * cols + j] = f32(float(u - 2**(N-1)) * f32(S * V[j]))
        off = [off[0] + nq, off[1] + nt, off[2] + nc]
    ref, _ = d[name]
    assert struct.pack('<%df' % len(out), *out) == struct.pack('<%df' % len(ref), *ref), name
    checked += 1
print('bit-identical tensors:', checked)
