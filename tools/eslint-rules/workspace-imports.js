// ESLint rule: every import of a workspace package goes through its exports map, no file reaches
// into another package by a relative path, and no app imports another app.
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** name → { dir, subpaths, app } for every workspace package. */
function workspacePackages() {
  const out = new Map();
  for (const group of ['packages', 'apps', 'tools']) {
    const base = join(root, group);
    if (!existsSync(base)) continue;
    for (const entry of readdirSync(base, { withFileTypes: true })) {
      const manifest = join(base, entry.name, 'package.json');
      if (!entry.isDirectory() || !existsSync(manifest)) continue;
      const pkg = JSON.parse(readFileSync(manifest, 'utf8'));
      const exportsMap = pkg.exports ?? {};
      const subpaths = typeof exportsMap === 'string' ? ['.'] : Object.keys(exportsMap).filter((key) => key.startsWith('.'));
      out.set(pkg.name, { dir: join(base, entry.name), subpaths: new Set(subpaths), app: group === 'apps' });
    }
  }
  return out;
}

const packages = workspacePackages();

function packageOf(file) {
  for (const [name, info] of packages) if (file === info.dir || file.startsWith(info.dir + sep)) return { name, ...info };
  return undefined;
}

export const workspaceImports = {
  meta: { type: 'problem', schema: [] },
  create(context) {
    const file = context.filename;
    const own = packageOf(file);
    const check = (node, source) => {
      if (typeof source !== 'string') return;
      if (source.startsWith('.')) {
        const target = resolve(dirname(file), source);
        const owner = packageOf(target);
        if (own !== undefined && owner !== undefined && owner.name !== own.name) {
          context.report({ node, message: `'${source}' reaches into ${owner.name} (${relative(root, target)}); import what its exports map exports instead` });
        }
        return;
      }
      const match = /^(@gq\/[^/]+)(\/.*)?$/.exec(source);
      if (match === null) return;
      const target = packages.get(match[1]);
      if (target === undefined) return;
      if (target.app && own !== undefined && own.name !== match[1]) {
        context.report({ node, message: `${own.name} imports the app ${match[1]}: no app or package imports an app; move what both need into a package` });
        return;
      }
      const subpath = match[2] === undefined ? '.' : `.${match[2]}`;
      if (!target.subpaths.has(subpath)) {
        context.report({ node, message: `'${source}' is not in ${match[1]}'s exports map (${[...target.subpaths].join(', ') || 'none'})` });
      }
    };
    return {
      ImportDeclaration: (node) => check(node, node.source.value),
      ExportNamedDeclaration: (node) => node.source && check(node, node.source.value),
      ExportAllDeclaration: (node) => check(node, node.source.value),
      ImportExpression: (node) => node.source.type === 'Literal' && check(node, node.source.value),
    };
  },
};
