// Builds the device-check bundle: the benchmark and the training replica as ES modules (esbuild,
// every workspace package and tfjs inlined), Dawn's Node addon for linux-x64, the Vulkan loader
// (Debian's libvulkan1, as install-lavapipe.sh unpacks it, which runs first where it is missing) and,
// with --with-node, this Node binary;
// then packs dist/gq-device-check.tar.xz and checks it stays within 60 MiB.
//   node build.mjs [--with-node]
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, 'dist', 'gq-device-check');
const archive = join(here, 'dist', 'gq-device-check.tar.xz');
const limitBytes = 60 * 2 ** 20;
const require = createRequire(import.meta.url);
const vulkanDir = process.env.GQ_VULKAN_DIR ?? join(here, '..', '..', 'apps', 'infer', '.vulkan');

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: { bench: join(here, 'src', 'bench.ts'), replica: join(here, '..', '..', 'packages', 'training', 'src', 'replica.ts') },
  outdir: out,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  conditions: ['@gq/source'],
  // Dawn is loaded from the bundle's node_modules; the other backends are never started here.
  external: ['webgpu', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu', 'tsx', 'tsx/*'],
  banner: { js: "import { createRequire as __gqCreateRequire } from 'node:module'; const require = __gqCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});

// The webgpu package as published, with only the linux-x64 addon.
const webgpu = dirname(require.resolve('webgpu/package.json'));
const webgpuOut = join(out, 'node_modules', 'webgpu');
mkdirSync(join(webgpuOut, 'dist', 'linux-x64'), { recursive: true });
for (const file of ['index.js', 'package.json']) copyFileSync(join(webgpu, file), join(webgpuOut, file));
copyFileSync(join(webgpu, 'dist', 'linux-x64', 'dawn.node'), join(webgpuOut, 'dist', 'linux-x64', 'dawn.node'));

const loader = join(vulkanDir, 'lib', 'libvulkan.so.1');
if (!existsSync(loader)) {
  // A fresh checkout: unpack it (install-lavapipe.sh uses Debian's apt repositories, installs nothing system-wide).
  const script = join(here, '..', '..', 'apps', 'infer', 'scripts', 'install-lavapipe.sh');
  try {
    execFileSync('bash', [script], { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, GQ_VULKAN_DIR: vulkanDir } });
  } catch (error) {
    throw new Error(`build.mjs: the Vulkan loader ${loader} is missing and ${script} could not unpack it (Debian's libvulkan1): ${error.message}`);
  }
  if (!existsSync(loader)) throw new Error(`build.mjs: ${script} ran but the Vulkan loader ${loader} is still missing`);
}
mkdirSync(join(out, 'lib'));
copyFileSync(loader, join(out, 'lib', 'libvulkan.so.1'));
if (process.argv.includes('--with-node')) copyFileSync(process.execPath, join(out, 'node'));
cpSync(join(here, 'run.sh'), join(out, 'run.sh'));
chmodSync(join(out, 'run.sh'), 0o755);
writeFileSync(join(out, 'README.txt'), 'gq-ts WebGPU device check. Run ./run.sh (add --quick on a CPU Vulkan driver); it prints JSON on stdout.\n');

execFileSync('tar', ['-C', dirname(out), '-cJf', archive, 'gq-device-check'], { env: { ...process.env, XZ_OPT: '-6 -T2' } });
const size = statSync(archive).size;
process.stderr.write(`device-check bundle: ${archive} (${(size / 2 ** 20).toFixed(1)} MiB${process.argv.includes('--with-node') ? ', Node included' : ''})\n`);
if (size > limitBytes) throw new Error(`build.mjs: the bundle is ${(size / 2 ** 20).toFixed(1)} MiB, over the 60 MiB limit`);
