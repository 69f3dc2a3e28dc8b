/*
 * Internals for this package's tests and benches (kernel call counters and the kernel list): not
 * a stable API.
 */
export { trainingKernelStatus, trainingKernelNames, fusedKernelNames, layerKernelNames, winogradKernelNames } from './kernels/register.js';
export { profileKernels, convolutionShare, convolutionKernelNames, kernelFlops } from './kernels/profile.js';
export type { KernelProfile, KernelTiming } from './kernels/profile.js';
