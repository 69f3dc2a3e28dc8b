import { unitToPixel } from '@gq/core';
import { PNG } from 'pngjs';

/**
 * A PNG grid: one row per image set (e.g. originals, GQ reconstructions, decode(μ)), one column per
 * image, 2-px gaps. Values in [-1, 1] map to 0–255 by @gq/core's `unitToPixel` (clamped).
 */
export function imageGrid(rows: readonly Float32Array[], count: number, size: number, channels: number): Uint8Array {
  const gap = 2;
  const width = count * size + (count + 1) * gap;
  const height = rows.length * size + (rows.length + 1) * gap;
  const png = new PNG({ width, height });
  png.data.fill(255);
  rows.forEach((images, r) => {
    for (let n = 0; n < count; n++) {
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          const px = gap + n * (size + gap) + x;
          const py = gap + r * (size + gap) + y;
          const out = (py * width + px) * 4;
          for (let c = 0; c < 3; c++) {
            const value = images[((n * size + y) * size + x) * channels + (channels === 1 ? 0 : c)]!;
            png.data[out + c] = unitToPixel(value);
          }
          png.data[out + 3] = 255;
        }
      }
    }
  });
  return new Uint8Array(PNG.sync.write(png));
}
