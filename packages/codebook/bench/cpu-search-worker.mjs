// Worker entry for CpuSearchPool: loader hooks registered in the parent thread do not reach
// worker threads on Node 20, so register tsx here before loading the TypeScript worker.
import { register } from 'tsx/esm/api';

register();
await import('./cpu-search-worker.ts');
