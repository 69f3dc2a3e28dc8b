#!/usr/bin/env node
// Rewrites the main job's figures in README.md (between the main-job-results markers) from the
// summary.json that `npm start` writes, so the README never carries numbers typed by hand.
//
//   node scripts/readme-results.mjs [summary.json] [README.md]
//
// Defaults: runs/default/summary.json and the repository's README.md. Exits 1 (naming what is
// missing) when the summary lacks a figure or the README lacks the markers.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const summaryPath = process.argv[2] ?? join(root, 'runs', 'default', 'summary.json');
const readmePath = process.argv[3] ?? join(root, 'README.md');
const start = '<!-- main-job-results:start (written by scripts/readme-results.mjs from runs/default/summary.json) -->';
const end = '<!-- main-job-results:end -->';

function fail(message) {
  process.stderr.write(`readme-results: ${message}\n`);
  process.exit(1);
}

/** The number at `path` (dotted) in `object`, or a failure naming the path. */
function figure(object, path) {
  const value = path.split('.').reduce((o, key) => (o === undefined || o === null ? undefined : o[key]), object);
  if (typeof value !== 'number' || !Number.isFinite(value)) fail(`${summaryPath}: expected a finite number at ${path}, got ${JSON.stringify(value)}`);
  return value;
}

const summary = JSON.parse(readFileSync(summaryPath, 'utf8'));
const e = summary.evaluation;
if (e?.mean === undefined || e?.sample === undefined || e?.bits === undefined) fail(`${summaryPath}: the main job's figures need a Gaussian method's evaluation (mean, sample, bits)`);
const label = typeof e.quantizedLabel === 'string' ? e.quantizedLabel : fail(`${summaryPath}: evaluation.quantizedLabel is missing`);
// The TDC target per token: bits per position spread over the tokens of a position.
const target = (figure(summary, 'config.bits') * figure(summary, 'rate.positions')) / figure(summary, 'rate.tokensPerImage');
// The band half-width: the run's config when it records it, else the rate histogram's band bin (the
// bin around the target whose count is the in-band count).
function bandHalfWidth() {
  if (typeof summary.config?.tdcBand === 'number') return summary.config.tdcBand;
  const edges = e.bits.histogram?.edges ?? [];
  const k = edges.findIndex((edge) => edge > target);
  if (k > 0 && e.bits.histogram.counts[k] === e.bits.inBand) return (edges[k] - edges[k - 1]) / 2;
  return fail(`${summaryPath}: neither config.tdcBand nor a band bin around ${target} bits in evaluation.bits.histogram`);
}
const band = bandHalfWidth();
const row = (name, scores) => `| ${name} | ${scores.psnr.toFixed(2)} | ${scores.ssim.toFixed(3)} |`;
for (const part of ['mean', 'sample', 'quantized']) for (const metric of ['psnr', 'ssim']) figure(e, `${part}.${metric}`);
const block = [
  start,
  `One run of ${figure(summary, 'steps')} steps on the 2-core development machine: ${figure(summary, 'seconds').toFixed(0)} s of training ` +
    `(${figure(summary, 'stepsPerSecond').toFixed(2)} steps/s, ${figure(summary, 'workers')} workers, ${summary.backend}):`,
  '',
  '| reconstruction | PSNR (dB) | SSIM |',
  '| --- | --- | --- |',
  row('decode(μ)', e.mean),
  row('decode(μ + σε)', e.sample),
  row(label, e.quantized),
  '',
  `with ${figure(e, 'usage.used')} of ${figure(e, 'usage.codebookSize')} codewords used (perplexity ${figure(e, 'usage.perplexity').toFixed(0)}) and a mean KL rate of ` +
    `${figure(e, 'bits.mean').toFixed(2)} bits per token, ${(figure(e, 'inBand') * 100).toFixed(0)} % of tokens within ${target} ± ${band} bits.`,
  end,
].join('\n');

const readme = readFileSync(readmePath, 'utf8');
const from = readme.indexOf(start);
const to = readme.indexOf(end);
if (from < 0 || to < from) fail(`${readmePath}: the markers ${start} … ${end} are missing`);
const next = readme.slice(0, from) + block + readme.slice(to + end.length);
if (next === readme) process.stdout.write(`readme-results: ${readmePath} already holds the figures of ${summaryPath}\n`);
else {
  writeFileSync(readmePath, next);
  process.stdout.write(`readme-results: wrote the figures of ${summaryPath} into ${readmePath}\n`);
}
