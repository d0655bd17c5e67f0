#!/usr/bin/env python3
"""Checks an ONNX file mnist-train wrote: onnx.checker (full check, with shape
inference), opset, and the documented input/output contract.
usage: onnx_check.py MODEL.onnx C H W K   (H = W = 0 for a flat [N, C] input)
exit 0 ok, 1 failed, 77 when python3-onnx is missing (skip)."""
import sys
try:
    import onnx
except ImportError:
    print("skip - python3-onnx is not installed (Debian: python3-onnx)")
    sys.exit(77)

path, c, h, w, k = sys.argv[1], *map(int, sys.argv[2:6])
m = onnx.load(path)
onnx.checker.check_model(m, full_check=True)
assert m.opset_import[0].version == 13, m.opset_import
def shape(vi):
    return [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim]
(inp,), (out,) = m.graph.input, m.graph.output
want_in = ["N", c, h, w] if h else ["N", c]
assert inp.name == "input" and shape(inp) == want_in, (inp.name, shape(inp), want_in)
assert out.name == "logits" and shape(out) == ["N", k], (out.name, shape(out))
ops = [n.op_type for n in m.graph.node]
assert ops[:2] == ["Sub", "Div"], ops
print("onnx.checker: ok;", " ".join(ops))
