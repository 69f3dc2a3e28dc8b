import { fileURLToPath } from 'node:url';
import { defaultClientConditions, defineConfig } from 'vite';

/**
 * Cross-origin isolation (COOP + COEP) makes SharedArrayBuffer available, which tfjs's wasm backend
 * needs for its threaded build. Any static host serving dist-web/ must send the same two headers to
 * get threads; without them the page still works on one thread.
 */
export const isolationHeaders = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

export default defineConfig({
  root: 'web',
  base: './',
  // A static site: a missing file is a 404, not index.html (an artifact URL typo must fail clearly).
  appType: 'mpa',
  // '@gq/source' resolves the workspace packages to their TypeScript sources: no build step first.
  resolve: { conditions: ['@gq/source', ...defaultClientConditions] },
  build: {
    outDir: '../dist-web',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 4096,
    // tfjs-backend-wasm starts its thread workers from the source text of its factory function
    // (Function.prototype.toString); minification lets that function refer to names outside it,
    // and every worker then dies with "e is not defined".
    minify: false,
    // Two pages, one build: tokenize (index.html) and train (train.html).
    rollupOptions: { input: { index: fileURLToPath(new URL('./web/index.html', import.meta.url)), train: fileURLToPath(new URL('./web/train.html', import.meta.url)) } },
  },
  server: { headers: isolationHeaders },
  preview: { headers: isolationHeaders },
  optimizeDeps: { exclude: ['@tensorflow/tfjs-backend-wasm'] },
});
