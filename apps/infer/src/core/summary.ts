import type { TokenFileHeader, TokenizerManifest } from '@gq/tokenizer';

/** Rows of `label: value` for a person; the same data goes out as JSON with `--json`. */
export type SummaryRows = ReadonlyArray<readonly [string, string]>;

function formatNumber(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toPrecision(4);
}

function formatMetrics(metrics: TokenizerManifest['metrics']): string {
  if (metrics === null || Object.keys(metrics).length === 0) return 'none recorded';
  return Object.entries(metrics)
    .filter(([, v]) => typeof v === 'number' || typeof v === 'string')
    .map(([k, v]) => `${k}=${typeof v === 'number' ? formatNumber(v) : v}`)
    .join(', ');
}

/** What a tokenizer artifact is: architecture, sizes, codebook, rate, id. */
export function artifactRows(manifest: TokenizerManifest, weightsBytes: number): SummaryRows {
  const codebook = manifest.codebook;
  const codebookText = codebook.method === 'table'
    ? `table K=${codebook.size}, m=${codebook.dim} (stored in the weights)`
    : `${codebook.method} K=${codebook.size}, m=${codebook.dim}, seed ${codebook.seed}`;
  return [
    ['kind', 'tokenizer artifact (gq-tokenizer v' + manifest.formatVersion + ')'],
    ['artifact id', manifest.artifactId],
    ['architecture', manifest.arch],
    ['image', `${manifest.image.height}×${manifest.image.width}×${manifest.image.channels}`],
    ['latent', `${manifest.latent.height}×${manifest.latent.width}×${manifest.latent.channels} (f=${manifest.downsamplingFactor})`],
    ['codebook', codebookText],
    ['layout, β', `${manifest.layout}, ${formatNumber(manifest.beta)}`],
    ['tokens', `${manifest.tokensPerPosition} per position, ${manifest.tokensPerImage} per image, ${manifest.bitsPerToken} bits each`],
    ['rate', `${manifest.bitsPerImage} bits per image = ${formatNumber(manifest.bitsPerPixel)} bpp`],
    ['weights', `${(weightsBytes / 1024).toFixed(1)} KiB`],
    ['metrics', formatMetrics(manifest.metrics)],
  ];
}

/** What a `.gqt` token file holds. `fileBytes` is the whole file's size, for the effective rate. */
export function tokenFileRows(header: TokenFileHeader, fileBytes: number): SummaryRows {
  const [batch, height, width, channels] = header.imageShape;
  const pixels = batch * height * width;
  return [
    ['kind', 'token file (gq-tokens v1)'],
    ['artifact id', header.artifactId],
    ['images', `${batch} × ${height}×${width}×${channels}`],
    ['tokens', `${header.latentGrid[0]}×${header.latentGrid[1]} grid × ${header.tokensPerPosition} per position = ${header.count} in all`],
    ['codebook', `K=${header.codebookSize}, ${header.bitsPerToken} bits per token`],
    ['payload', `${header.payloadBytes} bytes = ${formatNumber((8 * header.payloadBytes) / pixels)} bpp`],
    ['file', `${fileBytes} bytes with header = ${formatNumber((8 * fileBytes) / pixels)} bpp`],
  ];
}

export function formatRows(rows: SummaryRows): string {
  const width = Math.max(...rows.map(([label]) => label.length));
  return rows.map(([label, value]) => `${label.padEnd(width)}  ${value}`).join('\n');
}
