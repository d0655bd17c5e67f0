// Runs an ONNX model in onnxruntime (npm onnxruntime-node) on raw pixels and
// compares its logits with ours.
//   node onnx_run.js MODEL.onnx PIXELS.f32 LOGITS.f32 N C H W K TOL [LABELS.u8]
// PIXELS: N*C*H*W float32 little-endian in [0,1]; LOGITS: N*K float32 (ours),
// or "-" to only run the model; LABELS: N bytes, to print the accuracy.
// Prints the largest difference and the argmax agreement; exit 0 when every
// logit is within TOL, 1 otherwise, 77 when onnxruntime-node is missing (skip).
'use strict';
const fs = require('fs');
let ort;
try {
  ort = require('onnxruntime-node');
} catch (e) {
  console.log('skip - onnxruntime-node is not installed (ONNXRUNTIME_NODE_INSTALL_CUDA=skip npm ci --prefix tests/js)');
  process.exit(77);
}
const [model, pixFile, logFile, ...rest] = process.argv.slice(2);
const [N, C, H, W, K] = rest.slice(0, 5).map(Number);
const tol = Number(rest[5]);
const labels = rest[6] ? fs.readFileSync(rest[6]) : null;
const f32 = (file) => {
  const b = fs.readFileSync(file);
  return new Float32Array(b.buffer, b.byteOffset, b.length / 4);
};
(async () => {
  const pix = f32(pixFile), ours = logFile === '-' ? null : f32(logFile);
  const sess = await ort.InferenceSession.create(model);
  const per = H ? C * H * W : C;
  const shape = H ? [N, C, H, W] : [N, C];
  const res = await sess.run({ input: new ort.Tensor('float32', pix.slice(0, N * per), shape) });
  const got = res.logits.data;
  if (got.length !== N * K) {
    console.log(`logits: ${got.length} values, expected ${N * K}`);
    process.exit(1);
  }
  let maxd = 0, agree = 0, right = 0;
  for (let i = 0; i < N; i++) {
    let a = 0, b = 0;
    for (let k = 0; k < K; k++) {
      if (ours) maxd = Math.max(maxd, Math.abs(got[i * K + k] - ours[i * K + k]));
      if (got[i * K + k] > got[i * K + a]) a = k;
      if (ours && ours[i * K + k] > ours[i * K + b]) b = k;
    }
    agree += a === b;
    if (labels) right += a === labels[i];
  }
  const acc = labels ? `, accuracy ${(100 * right / N).toFixed(2)}% (${right}/${N})` : '';
  if (ours)
    console.log(`onnxruntime ${ort.env.versions ? ort.env.versions.common : ''}: ${N} samples, max |logit difference| ${maxd.toExponential(2)}, same class for ${agree}/${N}${acc}`);
  else
    console.log(`onnxruntime: ${N} samples${acc}`);
  process.exit(maxd <= tol ? 0 : 1);
})().catch((e) => {
  console.log(`onnxruntime failed: ${e.message}`);
  process.exit(1);
});
