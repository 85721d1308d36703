// ONNX Runtime's side of bench/ort_validate.sh: two-phase validation of the
// same inputs with the graph and plan merge_guard.py writes, timed as
// bench_validate times dg_validate (batch 1: p50 and p99 over the first
// 1000 inputs; batch 64: time per input over 40 batches; each after one
// untimed pass).  Prints one JSON line with the timings and the accepted
// flags, which the script compares with libdiffguard's.
//
// Usage: node validate.mjs MERGED.onnx PLAN.json INPUTS.f32 THREADS [CxHxW]
// (the Student's input; default 1x28x28)
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const ort = require('onnxruntime-node');
const [modelPath, planPath, inputsPath, threadsText, shapeText = '1x28x28'] =
  process.argv.slice(2);
const shape = shapeText.split('x').map(Number);
const plan = JSON.parse(readFileSync(planPath, 'utf8'));
const raw = readFileSync(inputsPath);
const pixels = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
const threads = Number(threadsText);

const session = await ort.InferenceSession.create(modelPath, {
  intraOpNumThreads: threads,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
});
const inputName = session.inputNames[0];
const plane = shape[0] * shape[1] * shape[2];
const count = pixels.length / plane;

// The decision dg_guard_decide makes: the Student's label, then the mean
// P(label) of that class's M members against theta (or their votes
// against tau).
function decide(out, batch, accepted, first) {
  const logits = out.student_logits.data;
  const k = logits.length / batch;
  for (let i = 0; i < batch; i++) {
    let label = 0;
    for (let j = 1; j < k; j++) if (logits[i * k + j] > logits[i * k + label]) label = j;
    const cls = plan.classes[label];
    let sum = 0, votes = 0;
    for (const name of cls.members) {
      const p = out[name].data;
      let best = 0;
      for (let j = 1; j < k; j++) if (p[i * k + j] > p[i * k + best]) best = j;
      votes += best === label;
      sum += p[i * k + label];
    }
    accepted[first + i] = plan.rule === 'votes'
      ? votes >= cls.tau : sum / cls.members.length >= cls.theta;
  }
}

async function validate(first, batch, accepted) {
  const x = new ort.Tensor('float32', pixels.subarray(first * plane, (first + batch) * plane),
                           [batch, ...shape]);
  const out = await session.run({ [inputName]: x });
  decide(out, batch, accepted, first);
}

const single = Math.min(1000, count);
const accepted = new Uint8Array(count);
const lat = new Float64Array(single);
for (let pass = 0; pass < 2; pass++)
  for (let i = 0; i < single; i++) {
    const a = process.hrtime.bigint();
    await validate(i, 1, accepted);
    lat[i] = Number(process.hrtime.bigint() - a) / 1e6;
  }
lat.sort();
const B = 64, batches = Math.min(40, Math.floor(count / B));
let ms = 0;
const batchAccepted = new Uint8Array(count);
for (let pass = 0; pass < 2; pass++) {
  ms = 0;
  for (let b = 0; b < batches; b++) {
    const a = process.hrtime.bigint();
    await validate(b * B, B, batchAccepted);
    ms += Number(process.hrtime.bigint() - a) / 1e6;
  }
}
console.log(JSON.stringify({
  impl: 'onnxruntime-node ' + require('onnxruntime-node/package.json').version,
  batch1_p50_ms: lat[single >> 1],
  batch1_p99_ms: lat[Math.floor(single * 99 / 100)],
  batch64_ms_per_image: ms / (batches * B),
  accepted: Array.from(accepted.subarray(0, single)).join(''),
}));
