import { writeFileAtomic } from '@gq/runtime/files';

// Rewrites the file forever with alternating 16 MiB contents until killed.
const path = process.argv[2]!;
const size = 16 * 1024 * 1024;
for (let i = 0; ; i++) {
  writeFileAtomic(path, new Uint8Array(size).fill(i % 2 === 0 ? 0xaa : 0x55));
  if (i === 0) process.stdout.write('first\n');
}
