#!/usr/bin/env node
// Runs the compiled client; `npm run build` (done by bootstrap) produces it.
require('../dist/src/client.js').main();
