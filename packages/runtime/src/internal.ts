/*
 * Internals for this package's tests and benches (kernel call counters and the kernel list): not
 * a stable API.
 */
export { trainingKernelStatus, trainingKernelNames } from './kernels/register.js';
