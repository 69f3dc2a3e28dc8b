import * as tf from '@tensorflow/tfjs-core';
import { isNode } from './node-only.js';

/*
 * The Node build of tfjs-core (dist/tf-core.node.js) registers no gradient functions; they live in
 * the ESM tree under dist/, whose relative imports carry no file extension and so cannot be loaded
 * by Node's ESM loader. In Node we install a resolve hook that adds `.js` to those specifiers
 * (scoped to tfjs-core's dist folder) and then import the registrations. Gradient and kernel
 * registries and the engine are process globals in tfjs-core, so registrations made by this second
 * module graph are seen by every copy. Bundlers resolve extensionless imports themselves.
 *
 * Node 20 runs no module hooks inside worker threads, so there we load the CommonJS build of
 * tfjs-layers instead, which carries its own copy of the same gradient registrations.
 */
const resolveHookSource = `
export async function resolve(specifier, context, next) {
  const parent = context.parentURL;
  if (parent !== undefined && parent.includes('/tfjs-core/dist/') && specifier.startsWith('.') &&
      !/\\.[cm]?js$/.test(specifier)) {
    try { return await next(specifier + '.js', context); }
    catch { return next(specifier + '/index.js', context); }
  }
  return next(specifier, context);
}`;

const registrationsModule = '@tensorflow/tfjs-core/dist/register_all_gradients.js';
let pending: Promise<void> | undefined;

/** True when tfjs can differentiate through the ops training needs. */
export function hasGradients(): boolean {
  return tf.getGradient('Sum') !== undefined && tf.getGradient('Conv2D') !== undefined;
}

/**
 * Make `tf.grad` and `optimizer.minimize` work. Idempotent and safe to call concurrently; a no-op
 * where gradients are already registered (browser bundles of tfjs, tfjs-layers loaded).
 */
export function ensureGradients(): Promise<void> {
  if (hasGradients()) return Promise.resolve();
  pending ??= (async () => {
    if (isNode()) {
      const { isMainThread } = await import('node:worker_threads');
      if (!isMainThread) {
        await import('@tensorflow/tfjs-layers');
        return;
      }
      const nodeModule = await import('node:module');
      nodeModule.register(`data:text/javascript,${encodeURIComponent(resolveHookSource)}`);
    }
    await import(/* @vite-ignore */ registrationsModule);
  })();
  return pending;
}
