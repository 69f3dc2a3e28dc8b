import { describe, expect, it } from 'vitest';
import { Progress, formatSeconds } from '@gq/runtime/progress';

/** A stream that records writes, and a clock the test advances by hand. */
function fakes(isTTY: boolean): { stream: { isTTY: boolean; write: (text: string) => void }; written: string[]; now: () => number; advance: (ms: number) => void } {
  const written: string[] = [];
  let time = 1000;
  return {
    stream: { isTTY, write: (text) => void written.push(text) },
    written,
    now: () => time,
    advance: (ms) => {
      time += ms;
    },
  };
}

describe('Progress', () => {
  it('writes a plain line each time the count passes a multiple of `every`, and at the end', () => {
    const { stream, written, now, advance } = fakes(false);
    const progress = new Progress({ total: 10, label: 'encode', unit: 'images', every: 4, stream, now });
    for (const count of [1, 3, 5, 6, 9, 10]) {
      advance(500);
      progress.update(count);
    }
    progress.finish();
    // 5 passes 4 (5 in 1.5 s: 3.33/s, 5 left → 1.5 s), 9 passes 8 (9 in 2.5 s: 3.60/s, 1 left →
    // 0.28 s), 10 is the end (10 in 3 s).
    expect(written).toEqual([
      'encode  5/10 images ██████████░░░░░░░░░░ 3.33 images/s ETA 0:02\n',
      'encode  9/10 images ██████████████████░░ 3.60 images/s ETA 0:00\n',
      'encode 10/10 images ████████████████████ 3.33 images/s ETA 0:00\n',
    ]);
  });

  it('rewrites one terminal line at most every redrawMs, always draws the last count, and ends the line once', () => {
    const { stream, written, now, advance } = fakes(true);
    const progress = new Progress({ total: 200, start: 100, stream, now, bar: false, redrawMs: 200 });
    advance(100);
    progress.update(110, { loss: '0.5', bits: 4 });
    advance(50);
    progress.update(115, { loss: '0.4' });
    advance(150);
    progress.update(130, { loss: '0.3' });
    // Steps count from `start`: 30 steps in 0.3 s = 100/s, 70 left → 0.7 s.
    expect(progress.rate(130)).toBeCloseTo(100, 10);
    progress.finish();
    progress.finish();
    expect(written).toEqual([
      '\r\x1b[2K110/200 steps 100.00 steps/s ETA 0:01 loss 0.5 bits 4',
      '\r\x1b[2K130/200 steps 100.00 steps/s ETA 0:01 loss 0.3',
      '\n',
    ]);
    const done = fakes(true);
    const full = new Progress({ total: 2, stream: done.stream, now: done.now, bar: false });
    done.advance(1000);
    full.update(2);
    full.finish();
    expect(done.written).toEqual(['\r\x1b[2K2/2 steps 2.00 steps/s ETA 0:00\n']);
  });

  it('writes nothing when disabled and still reports the rate', () => {
    const { stream, written, now, advance } = fakes(false);
    const progress = new Progress({ total: 4, stream, now, enabled: false });
    advance(2000);
    progress.update(4);
    progress.finish();
    expect(written).toEqual([]);
    expect(progress.rate(4)).toBe(2);
  });

  it('formats durations as m:ss below an hour and XhYYm above, unknown as --:--', () => {
    expect(formatSeconds(0)).toBe('0:00');
    expect(formatSeconds(59.4)).toBe('0:59');
    expect(formatSeconds(61)).toBe('1:01');
    expect(formatSeconds(3599)).toBe('59:59');
    expect(formatSeconds(3600 + 5 * 60 + 29)).toBe('1h05m');
    expect(formatSeconds(Number.NaN)).toBe('--:--');
    expect(formatSeconds(Number.POSITIVE_INFINITY)).toBe('--:--');
  });
});
