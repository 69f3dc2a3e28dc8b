let tables: Uint32Array[] | undefined;

function crcTables(): Uint32Array[] {
  // Built on first use rather than at import so loading the module does no work.
  if (tables) return tables;
  const first = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    first[n] = c >>> 0;
  }
  // Slicing-by-8: table k advances the CRC of a byte followed by k zero bytes, so eight input
  // bytes fold in with eight independent lookups instead of a serial chain of eight.
  tables = [first];
  for (let k = 1; k < 8; k++) {
    const previous = tables[k - 1]!;
    const next = new Uint32Array(256);
    for (let n = 0; n < 256; n++) next[n] = (previous[n]! >>> 8) ^ first[previous[n]! & 0xff]!;
    tables.push(next);
  }
  return tables;
}

/** CRC-32 (IEEE 802.3, as in zip) of `bytes`. */
export function crc32(bytes: Uint8Array): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = crcTables() as [Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array];
  let c = 0xffffffff;
  let i = 0;
  const whole = bytes.length - (bytes.length % 8);
  for (; i < whole; i += 8) {
    const low = (c ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24))) >>> 0;
    const high = bytes[i + 4]! | (bytes[i + 5]! << 8) | (bytes[i + 6]! << 16) | (bytes[i + 7]! << 24);
    c = t7[low & 0xff]! ^ t6[(low >>> 8) & 0xff]! ^ t5[(low >>> 16) & 0xff]! ^ t4[low >>> 24]! ^
      t3[high & 0xff]! ^ t2[(high >>> 8) & 0xff]! ^ t1[(high >>> 16) & 0xff]! ^ t0[high >>> 24]!;
  }
  for (; i < bytes.length; i++) c = t0[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
