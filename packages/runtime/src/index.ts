export { RuntimeError } from './errors.js';
export { ensureGradients, hasGradients } from './gradients.js';
export { useBackend, availableBackends, backendNames } from './backend.js';
export type { BackendName, BackendInfo, UseBackendOptions } from './backend.js';
export { registerTrainingKernels, unregisterTrainingKernels } from './kernels/register.js';
export type { RegisterTrainingKernelsOptions, TrainingKernelName, TrainingKernelState, TrainingKernelStatus } from './kernels/register.js';
export { createAdam, FusedAdamOptimizer } from './kernels/adam.js';
export { enableRelaxedSimd, relaxedSimdAvailable } from './kernels/relaxed-simd.js';
export { gemmFusesMultiplyAdd } from './kernels/batched-gemm-simd.js';
