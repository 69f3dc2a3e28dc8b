import { crc32 } from './crc32.js';
import { fail } from './errors.js';

/*
 * Reader for the zip container that `torch.save` writes (PyTorchStreamWriter): entries are
 * stored, not deflated, and each entry's data is padded to a 64-byte boundary through the local
 * header's extra field. Only the central directory is trusted for the list of entries; every
 * offset and length it gives is checked against the file before use.
 */

export interface ZipEntry {
  readonly name: string;
  /** 0 = stored, 8 = deflate; other methods are refused when the entry is read. */
  readonly method: number;
  readonly crc: number;
  readonly compressedSize: number;
  readonly size: number;
  /** Offset of the entry's data (after its local header) in the file. */
  readonly dataStart: number;
}

const eocdSignature = 0x06054b50;
const zip64LocatorSignature = 0x07064b50;
const zip64EocdSignature = 0x06064b50;
const centralSignature = 0x02014b50;
const localSignature = 0x04034b50;
const eocdSize = 22;
const maxCommentSize = 0xffff;

function uint64(view: DataView, at: number, what: string): number {
  const value = view.getBigUint64(at, true);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) fail('bad-zip', `${what} must be below 2^53, got ${value}`);
  return Number(value);
}

function findEndOfCentralDirectory(bytes: Uint8Array, view: DataView): number {
  const lowest = Math.max(0, bytes.length - eocdSize - maxCommentSize);
  for (let at = bytes.length - eocdSize; at >= lowest; at--) {
    // The comment length must reach exactly to the end of the file, which rules out a
    // signature that merely appears inside the comment or the data.
    if (view.getUint32(at, true) === eocdSignature && at + eocdSize + view.getUint16(at + 20, true) === bytes.length) {
      return at;
    }
  }
  return -1;
}

interface Directory {
  readonly offset: number;
  readonly size: number;
  readonly count: number;
}

function readDirectoryLocation(view: DataView, eocd: number): Directory {
  let count = view.getUint16(eocd + 10, true);
  let size = view.getUint32(eocd + 12, true);
  let offset = view.getUint32(eocd + 16, true);
  const disk = view.getUint16(eocd + 4, true);
  const directoryDisk = view.getUint16(eocd + 6, true);
  let end = eocd;
  const locator = eocd - 20;
  if (locator >= 0 && view.getUint32(locator, true) === zip64LocatorSignature) {
    const recordAt = uint64(view, locator + 8, 'ZIP64 end-of-directory offset');
    if (recordAt + 56 > locator) {
      fail('bad-zip', `ZIP64 end-of-directory record must lie before its locator at ${locator}, got offset ${recordAt}`);
    }
    if (view.getUint32(recordAt, true) !== zip64EocdSignature) {
      fail('bad-zip', `ZIP64 end-of-directory record signature missing at offset ${recordAt}`);
    }
    if (view.getUint32(recordAt + 16, true) !== 0 || view.getUint32(recordAt + 20, true) !== 0) {
      fail('bad-zip', 'multi-disk zip archives are not supported');
    }
    const count64 = uint64(view, recordAt + 32, 'ZIP64 entry count');
    const size64 = uint64(view, recordAt + 40, 'ZIP64 central directory size');
    const offset64 = uint64(view, recordAt + 48, 'ZIP64 central directory offset');
    // The 32-bit fields either hold the 0xFF.. placeholder or must agree with the ZIP64 record
    // (torch writes both); a disagreement means one of the two records is corrupt.
    if ((count !== 0xffff && count !== count64) || (size !== 0xffffffff && size !== size64) || (offset !== 0xffffffff && offset !== offset64)) {
      fail(
        'bad-zip',
        `end-of-directory records disagree: ${count}/${count64} entries, size ${size}/${size64}, offset ${offset}/${offset64}`,
      );
    }
    count = count64;
    size = size64;
    offset = offset64;
    end = recordAt;
  } else if (disk !== 0 || directoryDisk !== 0) {
    fail('bad-zip', `multi-disk zip archives are not supported (disk ${disk}, directory disk ${directoryDisk})`);
  }
  if (offset + size > end) {
    fail('bad-zip', `central directory [${offset}, ${offset + size}) must end before the end-of-directory record at ${end}`);
  }
  // 46 bytes is the smallest central-directory record, so a larger count cannot be honest.
  if (count * 46 > size) fail('bad-zip', `central directory of ${size} bytes cannot hold ${count} entries`);
  return { offset, size, count };
}

interface Zip64Sizes {
  size: number;
  compressedSize: number;
  localOffset: number;
}

function applyZip64Extra(view: DataView, extraStart: number, extraEnd: number, sizes: Zip64Sizes, name: string): void {
  const needSize = sizes.size === 0xffffffff;
  const needCompressed = sizes.compressedSize === 0xffffffff;
  const needOffset = sizes.localOffset === 0xffffffff;
  if (!needSize && !needCompressed && !needOffset) return;
  let at = extraStart;
  while (at + 4 <= extraEnd) {
    const id = view.getUint16(at, true);
    const length = view.getUint16(at + 2, true);
    const body = at + 4;
    if (body + length > extraEnd) break;
    if (id === 0x0001) {
      let field = body;
      const next = (what: string): number => {
        if (field + 8 > body + length) fail('bad-zip', `entry '${name}': ZIP64 extra field too short for ${what}`);
        const value = uint64(view, field, `entry '${name}' ${what}`);
        field += 8;
        return value;
      };
      // The ZIP64 field lists only the values whose 32-bit slots overflowed, in this fixed order.
      if (needSize) sizes.size = next('size');
      if (needCompressed) sizes.compressedSize = next('compressed size');
      if (needOffset) sizes.localOffset = next('local header offset');
      return;
    }
    at = body + length;
  }
  fail('bad-zip', `entry '${name}' has 32-bit sizes or offset of 0xFFFFFFFF but no ZIP64 extra field`);
}

/**
 * Read and validate the central directory of a zip archive.
 * @returns the entries by name, each with a data range that lies inside the file.
 */
export function readZipDirectory(bytes: Uint8Array): Map<string, ZipEntry> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < eocdSize) fail('truncated', `a zip archive needs at least ${eocdSize} bytes, got ${bytes.length}`);
  const eocd = findEndOfCentralDirectory(bytes, view);
  if (eocd < 0) {
    if (view.getUint32(0, true) === localSignature) {
      fail('truncated', 'zip archive has no end-of-central-directory record (file cut short?)');
    }
    fail('bad-zip', 'no zip end-of-central-directory record found: not a zip archive');
  }
  const directory = readDirectoryLocation(view, eocd);
  const entries = new Map<string, ZipEntry>();
  const decoder = new TextDecoder('utf-8');
  let at = directory.offset;
  const directoryEnd = directory.offset + directory.size;
  for (let index = 0; index < directory.count; index++) {
    if (at + 46 > directoryEnd) fail('bad-zip', `central directory entry ${index} runs past the directory end at ${directoryEnd}`);
    if (view.getUint32(at, true) !== centralSignature) {
      fail('bad-zip', `central directory entry ${index} at offset ${at} has no signature (wrong directory offset?)`);
    }
    const flags = view.getUint16(at + 8, true);
    const method = view.getUint16(at + 10, true);
    const crc = view.getUint32(at + 16, true);
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    const recordEnd = at + 46 + nameLength + extraLength + commentLength;
    if (recordEnd > directoryEnd) fail('bad-zip', `central directory entry ${index} runs past the directory end at ${directoryEnd}`);
    const nameBytes = bytes.subarray(at + 46, at + 46 + nameLength);
    const name = decoder.decode(nameBytes);
    const sizes: Zip64Sizes = {
      compressedSize: view.getUint32(at + 20, true),
      size: view.getUint32(at + 24, true),
      localOffset: view.getUint32(at + 42, true),
    };
    applyZip64Extra(view, at + 46 + nameLength, at + 46 + nameLength + extraLength, sizes, name);
    if (flags & 0x1) fail('bad-zip', `entry '${name}' is encrypted`);
    if (entries.has(name)) fail('bad-zip', `entry '${name}' appears twice in the central directory`);
    const local = sizes.localOffset;
    if (local + 30 > directory.offset) {
      fail('bad-zip', `entry '${name}': local header at ${local} must lie before the central directory at ${directory.offset}`);
    }
    if (view.getUint32(local, true) !== localSignature) fail('bad-zip', `entry '${name}': no local header signature at offset ${local}`);
    const localNameLength = view.getUint16(local + 26, true);
    const localExtraLength = view.getUint16(local + 28, true);
    const dataStart = local + 30 + localNameLength + localExtraLength;
    const localName = bytes.subarray(local + 30, local + 30 + localNameLength);
    if (localNameLength !== nameLength || localName.some((b, i) => b !== nameBytes[i])) {
      fail('bad-zip', `entry '${name}': local header names '${decoder.decode(localName)}'`);
    }
    if (dataStart + sizes.compressedSize > directory.offset) {
      fail(
        dataStart + sizes.compressedSize > bytes.length ? 'truncated' : 'bad-zip',
        `entry '${name}' declares ${sizes.compressedSize} bytes at offset ${dataStart}, past the central directory at ${directory.offset}`,
      );
    }
    if (method === 0 && sizes.compressedSize !== sizes.size) {
      fail('bad-zip', `stored entry '${name}' must have equal sizes, got ${sizes.compressedSize} compressed and ${sizes.size} uncompressed`);
    }
    entries.set(name, { name, method, crc, compressedSize: sizes.compressedSize, size: sizes.size, dataStart });
    at = recordEnd;
  }
  return entries;
}

/** The bytes of a stored entry (a view into `bytes`), optionally checked against its CRC-32. */
export function readZipEntry(bytes: Uint8Array, entry: ZipEntry, verifyCrc: boolean): Uint8Array {
  if (entry.method !== 0) {
    const what = entry.method === 8 ? 'deflate-compressed' : `compressed with zip method ${entry.method}`;
    fail(
      'unsupported-compression',
      `entry '${entry.name}' is ${what}; only stored (uncompressed) entries are read, as torch.save writes them ` +
        '(re-save with torch.save, or re-zip with `zip -0`)',
    );
  }
  const data = bytes.subarray(entry.dataStart, entry.dataStart + entry.size);
  if (verifyCrc) {
    const actual = crc32(data);
    if (actual !== entry.crc) {
      fail('bad-crc', `entry '${entry.name}' has CRC-32 ${hex(actual)}, the directory says ${hex(entry.crc)} (file corrupted)`);
    }
  }
  return data;
}

function hex(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}
