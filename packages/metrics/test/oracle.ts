// Float64 reference implementations written directly from docs/algorithms.md §7, for the tests only.

export interface Image64 {
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  /** HWC row-major values on the [0, 255] scale. */
  readonly data: Float64Array;
}

function gaussian64(): Float64Array {
  const taps = new Float64Array(11);
  let total = 0;
  for (let k = -5; k <= 5; k++) {
    taps[k + 5] = Math.exp(-(k * k) / (2 * 1.5 * 1.5));
    total += taps[k + 5]!;
  }
  return taps.map((t) => t / total);
}

/** Valid-mode separable Gaussian filter of one channel plane [H, W]. */
function filterValid(plane: Float64Array, height: number, width: number, taps: Float64Array): Float64Array {
  const outH = height - 10;
  const outW = width - 10;
  const rows = new Float64Array(outH * width);
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < width; x++) {
      let s = 0;
      for (let k = 0; k < 11; k++) s += taps[k]! * plane[(y + k) * width + x]!;
      rows[y * width + x] = s;
    }
  }
  const out = new Float64Array(outH * outW);
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      let s = 0;
      for (let k = 0; k < 11; k++) s += taps[k]! * rows[y * width + x + k]!;
      out[y * outW + x] = s;
    }
  }
  return out;
}

function plane(img: Image64, c: number, f: (v: number) => number = (v) => v): Float64Array {
  const out = new Float64Array(img.height * img.width);
  for (let i = 0; i < out.length; i++) out[i] = f(img.data[i * img.channels + c]!);
  return out;
}

/** Per-channel mean SSIM and mean contrast–structure, with L = 255. */
export function ssimOracle(a: Image64, b: Image64): { ssim: number[]; cs: number[] } {
  const taps = gaussian64();
  const c1 = (0.01 * 255) ** 2;
  const c2 = (0.03 * 255) ** 2;
  const { height, width, channels } = a;
  const ssim: number[] = [];
  const cs: number[] = [];
  for (let c = 0; c < channels; c++) {
    const x = plane(a, c);
    const y = plane(b, c);
    const xy = new Float64Array(x.length).map((_, i) => x[i]! * y[i]!);
    const mx = filterValid(x, height, width, taps);
    const my = filterValid(y, height, width, taps);
    const exx = filterValid(x.map((v) => v * v), height, width, taps);
    const eyy = filterValid(y.map((v) => v * v), height, width, taps);
    const exy = filterValid(xy, height, width, taps);
    let sumS = 0;
    let sumC = 0;
    for (let i = 0; i < mx.length; i++) {
      const sx = exx[i]! - mx[i]! ** 2;
      const sy = eyy[i]! - my[i]! ** 2;
      const sxy = exy[i]! - mx[i]! * my[i]!;
      const csv = (2 * sxy + c2) / (sx + sy + c2);
      sumC += csv;
      sumS += ((2 * mx[i]! * my[i]! + c1) / (mx[i]! ** 2 + my[i]! ** 2 + c1)) * csv;
    }
    ssim.push(sumS / mx.length);
    cs.push(sumC / mx.length);
  }
  return { ssim, cs };
}

/** PyTorch avg_pool2d(2, stride 2, padding = side mod 2), count_include_pad. */
function pool(img: Image64): Image64 {
  const padH = img.height % 2;
  const padW = img.width % 2;
  const height = Math.floor((img.height + padH) / 2);
  const width = Math.floor((img.width + padW) / 2);
  const data = new Float64Array(height * width * img.channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < img.channels; c++) {
        let s = 0;
        for (let dy = 0; dy < 2; dy++) {
          for (let dx = 0; dx < 2; dx++) {
            const sy = 2 * y + dy - padH;
            const sx = 2 * x + dx - padW;
            if (sy >= 0 && sx >= 0) s += img.data[(sy * img.width + sx) * img.channels + c]!;
          }
        }
        data[(y * width + x) * img.channels + c] = s / 4;
      }
    }
  }
  return { height, width, channels: img.channels, data };
}

export function msSsimOracle(a: Image64, b: Image64): number {
  const weights = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333];
  const product = new Array<number>(a.channels).fill(1);
  let x = a;
  let y = b;
  for (let s = 0; s < 5; s++) {
    const { ssim, cs } = ssimOracle(x, y);
    const values = s === 4 ? ssim : cs;
    for (let c = 0; c < a.channels; c++) product[c] = product[c]! * Math.max(values[c]!, 0) ** weights[s]!;
    x = pool(x);
    y = pool(y);
  }
  return product.reduce((p, v) => p + v, 0) / a.channels;
}

export function psnrOracle(a: Image64, b: Image64): number {
  let s = 0;
  for (let i = 0; i < a.data.length; i++) s += (a.data[i]! - b.data[i]!) ** 2;
  return 10 * Math.log10((255 * 255) / (s / a.data.length));
}

/** Maps [0, 255] values to [-1, 1] float32 the way the reference's eval path does (v/127.5 − 1). */
export function toSigned(data: ArrayLike<number>): Float32Array {
  return Float32Array.from(data, (v) => v / 127.5 - 1);
}
