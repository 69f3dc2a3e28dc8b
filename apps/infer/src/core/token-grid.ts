import type { Tokens } from '@gq/tokenizer';
import { InferError } from './errors.js';

/** Golden-angle hue steps keep neighbouring indices far apart in colour. */
const goldenAngle = 137.50776405003785;

/** A stable colour per codeword index: hue from the golden angle, lightness from the index's top bit. */
export function indexColour(index: number, codebookSize: number): [number, number, number] {
  const hue = (index * goldenAngle) % 360;
  const lightness = index >= codebookSize / 2 ? 0.35 : 0.62;
  return hslToRgb(hue, 0.72, lightness);
}

function hslToRgb(hue: number, saturation: number, lightness: number): [number, number, number] {
  const chroma = (1 - Math.abs(2 * lightness - 1)) * saturation;
  const h = hue / 60;
  const x = chroma * (1 - Math.abs((h % 2) - 1));
  const [r, g, b] = h < 1 ? [chroma, x, 0] : h < 2 ? [x, chroma, 0] : h < 3 ? [0, chroma, x] : h < 4 ? [0, x, chroma] : h < 5 ? [x, 0, chroma] : [chroma, 0, x];
  const m = lightness - chroma / 2;
  return [Math.round((r + m) * 255), Math.round((g + m) * 255), Math.round((b + m) * 255)];
}

/**
 * A picture of one image's token indices: an h × (w·G) RGBA raster, one pixel per token (the G
 * tokens of a position side by side), coloured by `indexColour`. Scale it up with nearest-neighbour
 * sampling to show it.
 */
export function tokenGridPicture(tokens: Tokens, image: number, codebookSize: number): { data: Uint8ClampedArray; width: number; height: number } {
  const [batch, h, w, g] = tokens.shape;
  if (!Number.isSafeInteger(image) || image < 0 || image >= batch) {
    throw new InferError('bad-image-index', `tokenGridPicture: image must be in [0, ${batch}), got ${image}`);
  }
  const width = w * g;
  const data = new Uint8ClampedArray(h * width * 4);
  const offset = image * h * w * g;
  for (let i = 0; i < h * w * g; i++) {
    const [r, gr, b] = indexColour(tokens.indices[offset + i]!, codebookSize);
    data[4 * i] = r;
    data[4 * i + 1] = gr;
    data[4 * i + 2] = b;
    data[4 * i + 3] = 255;
  }
  return { data, width, height: h };
}
