export { CodebookError } from './errors.js';
export {
  latentToTokens,
  tokensToLatent,
  latentRowsToTokens,
  tokensToLatentRows,
  tokensPerPosition,
} from './layout.js';
export type { LatentLayout, TokenGrouping } from './layout.js';
