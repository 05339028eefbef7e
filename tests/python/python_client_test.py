#!/usr/bin/env python3
"""A quantd client in Python, from stubs generated out of proto/: proves the contract is
language-neutral. Starts a quantd binary, quantizes one tensor with RTN over QuantizeChunk,
decodes the RTN sections itself (docs/FORMAT.md) and checks them against the server's own
Dequantize, checks an error status, then stops the server with SIGTERM (exit status 0).

  python_client_test.py QUANTD_BINARY PYTHON_STUBS_DIR
"""
import os
import signal
import subprocess
import sys

import numpy as np

sys.path.insert(0, sys.argv[2])
import grpc  # noqa: E402
from quantd.v1 import quantizer_pb2 as pb  # noqa: E402
from quantd.v1 import quantizer_pb2_grpc as pbg  # noqa: E402


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def rtn_decode(enc):
    """RTN decoding from the documented layout, independent of quantd's code."""
    params = dict(enc.params)
    bits, group = int(params["bits"]), int(params["group_size"])
    sections = {s.name: s for s in enc.sections}
    rows, cols = enc.row_end - enc.row_begin, enc.cols
    codes_bytes = np.frombuffer(sections["codes"].data, dtype=np.uint8).reshape(rows, -1)
    scale_dt = np.float16 if sections["scales"].dtype == pb.F16 else np.float32
    scales = np.frombuffer(sections["scales"].data, dtype=scale_dt).astype(np.float32).reshape(rows, -1)
    out = np.zeros((rows, cols), dtype=np.float32)
    for r in range(rows):
        bitstream = np.unpackbits(codes_bytes[r], bitorder="little")
        for c in range(cols):
            code = int(np.dot(bitstream[c * bits:(c + 1) * bits], 1 << np.arange(bits)))
            out[r, c] = np.float32(code - (1 << (bits - 1))) * scales[r, c // group]
    return out


def main():
    proc = subprocess.Popen([sys.argv[1], "--listen", "127.0.0.1:0", "--threads", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()
        if "listening on port" not in line:
            fail("quantd did not start: " + line)
        port = int(line.split()[-1])
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        stub = pbg.QuantizerStub(channel)

        info = stub.GetInfo(pb.GetInfoRequest(), timeout=10)
        if "rtn" not in [m.name for m in info.methods]:
            fail("GetInfo does not list rtn")

        rng = np.random.default_rng(5)
        w = (rng.standard_normal((24, 96)) * 0.02).astype(np.float32)
        req = pb.QuantizeRequest(chunk_id=9, tensor_name="py.weight", shape=[24, 96], dtype=pb.F32,
                                 row_begin=0, row_count=24, data=w.tobytes(),
                                 params=pb.MethodParams(rtn=pb.RtnParams(bits=4, group_size=32)))
        resp = stub.QuantizeChunk(req, timeout=30)
        enc = resp.encoding
        if resp.chunk_id != 9 or enc.method != "rtn" or dict(enc.params)["bits"] != "4":
            fail(f"unexpected response header {resp.chunk_id} {enc.method} {dict(enc.params)}")
        mine = rtn_decode(enc)
        theirs = stub.Dequantize(pb.DequantizeRequest(encoding=enc, dtype=pb.F32), timeout=30)
        server_values = np.frombuffer(theirs.data, dtype=np.float32).reshape(24, 96)
        if not np.array_equal(mine, server_values):
            fail("Python decoding of the documented layout differs from the server's Dequantize")
        sqnr = 10 * np.log10(np.sum(w.astype(np.float64) ** 2) / np.sum((w - mine).astype(np.float64) ** 2))
        if abs(sqnr - resp.metrics.sqnr_db) > 1e-6 or sqnr < 15:
            fail(f"SQNR {sqnr} vs reported {resp.metrics.sqnr_db}")

        bad = pb.QuantizeRequest()
        bad.CopyFrom(req)
        bad.params.rtn.bits = 9
        try:
            stub.QuantizeChunk(bad, timeout=30)
            fail("bits=9 was accepted")
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.INVALID_ARGUMENT or "bits" not in e.details():
                fail(f"bits=9 gave {e.code()} {e.details()}")
        print(f"python client: rtn 4-bit SQNR {sqnr:.2f} dB, decoding agrees bit for bit")
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    if code != 0:
        fail(f"quantd exited {code} after SIGTERM")


if __name__ == "__main__":
    main()
