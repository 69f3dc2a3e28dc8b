#!/usr/bin/env node
// Prepares the `photos` dataset (`--dataset photos` in gq-train and gq-bench): the twelve nature
// photographs of Debian's mate-backgrounds package, copied with their copyright file into the
// folder `photos` reads by default (defaultPhotosDir(nodeFiles) of @gq/training, ~/.cache/gq-ts/photos).
// The loader cuts them into patches and splits train/test by photograph.
//
//   node scripts/prepare-photos.mjs [--dest DIR]
//
// Uses the installed package when /usr/share/backgrounds/mate/nature exists, else fetches the .deb
// with `apt-get download` (no root needed) and unpacks it with dpkg-deb. A second run on a
// prepared folder does nothing. Licence: the photographs are GPL-2+ (see COPYRIGHT in the
// folder); neither they nor patches cut from them may be committed to this MIT repository.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = 'mate-backgrounds';
const photosIn = 'usr/share/backgrounds/mate/nature';
const copyrightIn = `usr/share/doc/${pkg}/copyright`;
const licence = 'GPL-2+';

function fail(message) {
  process.stderr.write(`prepare-photos: ${message}\n`);
  process.exit(1);
}

function run(command, args, options = {}) {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...options }).trim();
  } catch (error) {
    return fail(`${command} ${args.join(' ')} failed: ${(error.stderr || error.message).toString().trim()}`);
  }
}

/** The folder `photos` reads by default, from @gq/training itself so the two never disagree. */
function defaultPhotosDir() {
  const training = join(dirname(fileURLToPath(import.meta.url)), '..', 'packages', 'training');
  const tsx = createRequire(join(training, 'package.json')).resolve('tsx');
  return run(process.execPath, ['--conditions=@gq/source', '--import', tsx, '--input-type=module', '-e', "import { defaultPhotosDir } from '@gq/training'; import { nodeFiles } from '@gq/runtime/files'; process.stdout.write(defaultPhotosDir(nodeFiles));"], { cwd: training });
}

const args = process.argv.slice(2);
const destFlag = args.indexOf('--dest');
if (destFlag < 0 ? args.length > 0 : destFlag !== 0 || args.length !== 2) fail('usage: node scripts/prepare-photos.mjs [--dest DIR]');
const dest = destFlag >= 0 ? args[destFlag + 1] : defaultPhotosDir();

// Done already: the folder names its source and holds every photograph it lists.
const sourceFile = join(dest, 'SOURCE.json');
if (existsSync(sourceFile)) {
  const kept = JSON.parse(readFileSync(sourceFile, 'utf8'));
  if (kept.package === pkg && kept.photographs?.length >= 2 && kept.photographs.every((f) => existsSync(join(dest, f)))) {
    process.stdout.write(`prepare-photos: ${dest} already holds the ${kept.photographs.length} photographs of ${pkg} ${kept.version} (${kept.licence}); delete it to prepare again\n`);
    process.exit(0);
  }
}

// The source tree: the installed package, or the .deb unpacked into a temporary folder.
let root = '/';
let version;
let scratch;
if (existsSync(join('/', photosIn)) && existsSync(join('/', copyrightIn))) {
  version = run('dpkg-query', ['-W', '-f=${Version}', pkg]);
} else {
  scratch = mkdtempSync(join(tmpdir(), 'gq-photos-'));
  process.stdout.write(`prepare-photos: fetching ${pkg} with apt-get download…\n`);
  run('apt-get', ['download', pkg], { cwd: scratch });
  const deb = readdirSync(scratch).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
  if (deb === undefined) fail(`apt-get download ${pkg} left no .deb in ${scratch}`);
  version = run('dpkg-deb', ['-f', join(scratch, deb), 'Version']);
  root = join(scratch, 'root');
  run('dpkg-deb', ['-x', join(scratch, deb), root]);
}

const photos = readdirSync(join(root, photosIn)).filter((f) => /\.(jpe?g|png)$/i.test(f)).sort();
if (photos.length < 2) fail(`${pkg} ${version} has ${photos.length} photographs in /${photosIn}; the split by photograph needs at least 2`);
mkdirSync(dest, { recursive: true });
for (const f of photos) copyFileSync(join(root, photosIn, f), join(dest, f));
copyFileSync(join(root, copyrightIn), join(dest, 'COPYRIGHT'));
writeFileSync(sourceFile, `${JSON.stringify({ package: pkg, version, licence, folder: `/${photosIn}`, photographs: photos }, null, 2)}\n`);
process.stdout.write(`prepare-photos: ${photos.length} photographs of ${pkg} ${version} (${licence}) in ${dest}: ${photos.join(', ')}\n`);
if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
process.stdout.write('prepare-photos: the photographs are GPL-2+; do not commit them or patches cut from them.\n');
