// Runs the graphql-http server audits (GraphQL over HTTP spec) against a running server.
// Usage: node graphql-http-audit.mjs http://127.0.0.1:PORT/graphql
// Exits non-zero when a MUST audit fails; prints every result.
import { serverAudits } from 'graphql-http';

const url = process.argv[2];
let mustFailures = 0;
const counts = { ok: 0, warn: 0, error: 0 };
for (const audit of serverAudits({ url })) {
  const result = await audit.fn();
  counts[result.status] = (counts[result.status] ?? 0) + 1;
  const level = audit.name.split(' ')[0];
  if (result.status !== 'ok') {
    console.log(`${result.status.toUpperCase()} ${audit.name}: ${result.reason}`);
    if (level === 'MUST') mustFailures += 1;
  }
}
console.log(`graphql-http audits: ${counts.ok} ok, ${counts.warn} warnings, ${counts.error} errors; MUST failures: ${mustFailures}`);
process.exit(mustFailures === 0 ? 0 : 1);
