import { run } from './cli.js';

const code = await run(process.argv.slice(2), {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  errIsTty: process.stderr.isTTY === true,
});
// Exit explicitly: Dawn's device (WebGPU) keeps the event loop alive after the work is done.
process.exit(code);
