// The release check `npm test` ends with: pack every published package (its prepack builds it),
// lint each tarball with publint and are-the-types-wrong, install the tarballs with npm into empty
// projects outside the workspace, and compile (strict) and run every package README's quick start
// there. Prints the tarball sizes, one line per check and `N passed, N failed` last.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkPackage, createPackageFromTarballData } from '@arethetypeswrong/core';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';
import { installedPackages, packageOf, quickStartBlocks, type QuickStartBlock } from './readme.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const fixtures = resolve(root, '..', 'shared', 'fixtures');
/** Packages whose README promises that they install alone: their quick start runs in a project holding only what their Install line names. */
const STANDALONE = ['@gq/tdc'];
/** Files a quick start reads from the current folder, and where the check takes them from. */
const INPUT_FILES: Readonly<Record<string, string>> = { 'model.ckpt': join(fixtures, 'vit-tiny', 'model.ckpt') };
/** The in-band share a TDC example must print (`in band NN.N %`). */
const MIN_IN_BAND_PERCENT = 80;
const RUN_TIMEOUT_MS = 180_000;

interface Published {
  readonly name: string;
  readonly version: string;
  readonly dir: string;
  readonly dependencies: readonly string[];
}

interface Packed extends Published {
  readonly tarball: string;
}

let passed = 0;
let failed = 0;

function check(name: string, ok: boolean, detail = ''): void {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? `: ${detail}` : ''}`);
}

function run(command: string, args: readonly string[], cwd: string, timeout = 600_000): { ok: boolean; output: string; seconds: number } {
  const start = Date.now();
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', timeout, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, NODE_OPTIONS: '' } });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}${result.error ? String(result.error) : ''}`;
  return { ok: result.status === 0, output, seconds: (Date.now() - start) / 1000 };
}

const tail = (text: string, lines = 25): string => text.trimEnd().split('\n').slice(-lines).join('\n');

function publishedPackages(): Published[] {
  const list: Published[] = [];
  for (const entry of readdirSync(join(root, 'packages')).sort()) {
    const dir = join(root, 'packages', entry);
    const manifestPath = join(dir, 'package.json');
    if (!existsSync(manifestPath)) continue;
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { name: string; version: string; private?: boolean; dependencies?: Record<string, string> };
    if (manifest.private === true) continue;
    list.push({ name: manifest.name, version: manifest.version, dir, dependencies: Object.keys(manifest.dependencies ?? {}) });
  }
  return list;
}

function pack(packages: readonly Published[], destination: string): Packed[] {
  const pnpm = join(root, 'node_modules', '.bin', 'pnpm');
  const packed: Packed[] = [];
  console.log('\nTarballs (pnpm pack; prepack builds):');
  for (const pkg of packages) {
    const before = new Set(readdirSync(destination));
    const result = run(pnpm, ['pack', '--pack-destination', destination], pkg.dir);
    const tarball = readdirSync(destination).find((file) => file.endsWith('.tgz') && !before.has(file));
    check(`pack ${pkg.name}`, result.ok && tarball !== undefined, result.ok ? '' : tail(result.output));
    if (!result.ok || tarball === undefined) continue;
    const path = join(destination, tarball);
    console.log(`     ${tarball.padEnd(34)} ${(statSync(path).size / 1024).toFixed(1).padStart(8)} KiB`);
    packed.push({ ...pkg, tarball: path });
  }
  return packed;
}

async function lintTarball(pkg: Packed): Promise<void> {
  const bytes = readFileSync(pkg.tarball);
  const tarball = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  const { messages, pkg: manifest } = await publint({ pack: { tarball }, strict: true, level: 'suggestion' });
  const problems = messages.filter((m) => m.type !== 'suggestion');
  const text = messages.map((m) => `${m.type}: ${formatMessage(m, manifest, { color: false }) ?? m.code}`).join('\n');
  check(`publint ${pkg.name}`, problems.length === 0, text);

  // ESM-only packages: the CommonJS resolutions (node10, node16 from require) are not offered.
  const analysis = await checkPackage(createPackageFromTarballData(new Uint8Array(bytes)));
  const ignored = new Set(['node10', 'node16-cjs']);
  const typeProblems =
    analysis.types === false
      ? [{ kind: 'Untyped' }]
      : analysis.problems.filter((p) => !('resolutionKind' in p) || !ignored.has(String(p.resolutionKind)));
  check(`attw ${pkg.name}`, typeProblems.length === 0, typeProblems.map((p) => JSON.stringify(p)).join('\n'));
}

/** The @gq tarballs `names` need, with their @gq dependencies (the registry does not have them yet). */
function closure(names: readonly string[], packed: readonly Packed[]): Packed[] {
  const byName = new Map(packed.map((p) => [p.name, p]));
  const out = new Map<string, Packed>();
  const visit = (name: string): void => {
    const pkg = byName.get(name);
    if (pkg === undefined || out.has(name)) return;
    out.set(name, pkg);
    pkg.dependencies.forEach(visit);
  };
  names.forEach(visit);
  return [...out.values()];
}

function catalogVersions(): Map<string, string> {
  const text = readFileSync(join(root, 'pnpm-workspace.yaml'), 'utf8');
  const catalog = text.split(/^catalog:\s*$/m)[1]?.split(/^\S/m)[0] ?? '';
  const versions = new Map<string, string>();
  for (const match of catalog.matchAll(/^\s+'?([^':\s]+)'?:\s*(\S+)/gm)) versions.set(match[1]!, match[2]!);
  return versions;
}

/** An empty npm project in `dir` with `packages` installed: @gq names from the tarballs, others at the workspace's pinned versions. */
function installProject(label: string, dir: string, packages: readonly string[], packed: readonly Packed[]): boolean {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `consumer-${label}`, private: true, type: 'module' }, null, 2));
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: true, outDir: 'out', types: ['node'] },
      include: ['*.ts'],
    }),
  );
  const versions = catalogVersions();
  const gq = packages.filter((name) => name.startsWith('@gq/'));
  const thirdParty = packages.filter((name) => !name.startsWith('@gq/')).map((name) => (versions.has(name) ? `${name}@${versions.get(name)!}` : name));
  const specs = [...closure(gq, packed).map((p) => p.tarball), ...thirdParty, `@types/node@${versions.get('@types/node') ?? '20'}`];
  const result = run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...specs], dir);
  check(`npm install (${label}: ${packages.join(' ')})`, result.ok, `${result.seconds.toFixed(0)} s${result.ok ? '' : `\n${tail(result.output)}`}`);
  return result.ok;
}

interface Example {
  readonly pkg: Packed;
  readonly block: QuickStartBlock;
  readonly file: string;
}

function runExamples(label: string, dir: string, examples: readonly Example[]): void {
  if (examples.length === 0) return;
  for (const [name, source] of Object.entries(INPUT_FILES)) {
    if (existsSync(source)) copyFileSync(source, join(dir, name));
  }
  for (const { file, block } of examples) writeFileSync(join(dir, file), block.code);
  const tsc = join(root, 'tools', 'consumer', 'node_modules', 'typescript', 'bin', 'tsc');
  const compiled = run(process.execPath, [tsc, '-p', 'tsconfig.json'], dir);
  check(`tsc --strict (${label}: ${examples.length} quick starts)`, compiled.ok, compiled.ok ? '' : tail(compiled.output, 60));
  for (const { pkg, block, file } of examples) {
    const name = `${pkg.name} README.md:${block.line}`;
    const js = join(dir, 'out', file.replace(/\.ts$/, '.js'));
    if (!existsSync(js)) {
      check(`run ${name}`, false, 'not compiled');
      continue;
    }
    const result = run(process.execPath, [js], dir, RUN_TIMEOUT_MS);
    const inBand = /in band ([\d.]+) ?%/.exec(result.output);
    const bandOk = inBand === null || Number(inBand[1]) >= MIN_IN_BAND_PERCENT;
    const shown = inBand !== null ? ` — ${inBand[0]} (needs ≥ ${MIN_IN_BAND_PERCENT} %)` : '';
    check(`run ${name} [${label}]`, result.ok && bandOk, `${result.seconds.toFixed(1)} s${shown}${result.ok && bandOk ? '' : `\n${tail(result.output)}`}`);
  }
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'gq-consumer-'));
  try {
    const tarballs = join(work, 'tarballs');
    mkdirSync(tarballs);
    const packed = pack(publishedPackages(), tarballs);
    console.log('\nTarball checks (publint --strict, are-the-types-wrong, ESM-only):');
    for (const pkg of packed) await lintTarball(pkg);

    console.log('\nREADME quick starts, installed from the tarballs with npm outside the workspace:');
    const all: Example[] = [];
    const standalone = new Map<string, Example[]>();
    const thirdParty = new Set<string>();
    for (const pkg of packed) {
      const markdown = readFileSync(join(pkg.dir, 'README.md'), 'utf8');
      installedPackages(markdown).filter((n) => !n.startsWith('@gq/')).forEach((n) => thirdParty.add(n));
      const blocks = quickStartBlocks(markdown);
      check(`${pkg.name} README has a quick start`, blocks.length > 0, blocks.length > 0 ? `${blocks.length} block(s)` : 'no ```ts block under "## Example" / "## Quick start"');
      const own = new Set([...installedPackages(markdown), ...closure([pkg.name], packed).map((p) => p.name)]);
      blocks.forEach((block, index) => {
        const example = { pkg, block, file: `${pkg.name.replace('@gq/', '')}-${index + 1}.ts` };
        const alone = STANDALONE.includes(pkg.name) && block.imports.every((name) => own.has(name) || packageOf(name) === null);
        if (alone) standalone.set(pkg.name, [...(standalone.get(pkg.name) ?? []), example]);
        else all.push(example);
        for (const name of block.imports) if (!name.startsWith('@gq/')) thirdParty.add(name);
      });
    }
    for (const [name, examples] of standalone) {
      const markdown = readFileSync(join(examples[0]!.pkg.dir, 'README.md'), 'utf8');
      const dir = join(work, name.replace('@gq/', ''));
      if (installProject(name, dir, installedPackages(markdown), packed)) runExamples(`${name} alone`, dir, examples);
    }
    const dir = join(work, 'all');
    if (installProject('all', dir, [...packed.map((p) => p.name), ...thirdParty], packed)) runExamples('all packages', dir, all);
  } finally {
    if (process.env.GQ_CONSUMER_KEEP === undefined) rmSync(work, { recursive: true, force: true });
    else console.log(`kept ${work}`);
  }
  console.log(`\n${passed} passed, ${failed} failed`);
  process.exitCode = failed > 0 ? 1 : 0;
}

await main();
