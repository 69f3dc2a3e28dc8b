// Shared by the apps' bin scripts and the device check: WebGPU in Node is Dawn on a Vulkan driver.
// Without a GPU, apps/infer/scripts/install-lavapipe.sh unpacks Mesa's lavapipe (a CPU driver) into
// apps/infer/.vulkan (or $GQ_VULKAN_DIR). The dynamic loader reads LD_LIBRARY_PATH only when a
// process starts, so callers pass the returned environment to the child that runs tfjs.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The folder install-lavapipe.sh unpacks into. */
export const lavapipeDir = process.env.GQ_VULKAN_DIR ?? fileURLToPath(new URL('../apps/infer/.vulkan/', import.meta.url));

/**
 * `env` pointed at the unpacked lavapipe when one is there and no Vulkan driver is configured
 * (VK_ICD_FILENAMES or VK_DRIVER_FILES); otherwise `env` unchanged.
 */
export function withLavapipe(env = process.env) {
  const dir = lavapipeDir.endsWith('/') ? lavapipeDir : `${lavapipeDir}/`;
  if (env.VK_ICD_FILENAMES !== undefined || env.VK_DRIVER_FILES !== undefined || !existsSync(`${dir}icd.json`)) return env;
  return { ...env, VK_ICD_FILENAMES: `${dir}icd.json`, LD_LIBRARY_PATH: [`${dir}lib`, env.LD_LIBRARY_PATH].filter(Boolean).join(':') };
}
