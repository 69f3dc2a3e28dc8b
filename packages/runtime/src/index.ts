export { RuntimeError } from './errors.js';
export { ensureGradients, hasGradients } from './gradients.js';
export { useBackend, availableBackends, backendNames } from './backend.js';
export type { BackendName, BackendInfo, UseBackendOptions } from './backend.js';
