/** A fenced ```ts block of a README's quick start, as a complete ES module. */
export interface QuickStartBlock {
  /** 1-based line of the opening fence, for messages. */
  readonly line: number;
  readonly code: string;
  /** Package names the block imports (bare specifiers, subpaths folded to the package). */
  readonly imports: readonly string[];
}

const QUICK_START_HEADING = /^##\s+(Example|Quick start)/i;

/** The package name of a bare import specifier (`@scope/name/sub` → `@scope/name`), or null for `node:` and relative ones. */
export function packageOf(specifier: string): string | null {
  if (specifier.startsWith('.') || specifier.startsWith('node:') || specifier.startsWith('/')) return null;
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

function importsOf(code: string): string[] {
  const names = new Set<string>();
  for (const match of code.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'";]*?['"]([^'"]+)['"]/g)) {
    const name = packageOf(match[1]!);
    if (name !== null) names.add(name);
  }
  return [...names];
}

/**
 * The quick start of a README: every ```ts block in the first level-2 section whose heading
 * starts with "Example" or "Quick start" (its ### subsections included). Each block must run as
 * it stands in an empty project, so the consumer test compiles and runs every one.
 */
export function quickStartBlocks(markdown: string): QuickStartBlock[] {
  const lines = markdown.split('\n');
  const blocks: QuickStartBlock[] = [];
  let inSection = false;
  let sectionSeen = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (/^##\s/.test(line)) {
      const starts: boolean = !sectionSeen && QUICK_START_HEADING.test(line);
      inSection = starts;
      sectionSeen ||= starts;
      continue;
    }
    if (!line.startsWith('```')) continue;
    const info = line.slice(3).trim();
    let end = i + 1;
    while (end < lines.length && !lines[end]!.startsWith('```')) end++;
    if (inSection && /^(ts|typescript)\b/.test(info)) {
      const code = lines.slice(i + 1, end).join('\n') + '\n';
      blocks.push({ line: i + 1, code, imports: importsOf(code) });
    }
    i = end;
  }
  return blocks;
}

/** The packages named by the first `npm install` / `pnpm add` line in the README's Install section. */
export function installedPackages(markdown: string): string[] {
  const match = /^(?:npm install|npm i|pnpm add)\s+([^#\n]+)/m.exec(markdown);
  if (match === null) return [];
  return match[1]!.trim().split(/\s+/).filter((word) => !word.startsWith('-'));
}
