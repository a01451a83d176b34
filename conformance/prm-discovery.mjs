// The official TypeScript SDK's client discovers the OAuth protected-resource metadata of a
// server mounted under a path (RFC 9728), as a real client does: from the 401's
// WWW-Authenticate, and by well-known discovery alone. Usage: node prm-discovery.mjs <server-url>
import {
  discoverOAuthProtectedResourceMetadata,
  extractWWWAuthenticateParams,
} from '@modelcontextprotocol/sdk/client/auth.js';
import { checkResourceAllowed } from '@modelcontextprotocol/sdk/shared/auth-utils.js';

const serverUrl = process.argv[2];
const fail = (msg) => {
  console.error(`FAIL: ${msg}`);
  process.exit(1);
};

const res = await fetch(serverUrl, {
  method: 'POST',
  headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
  body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
});
if (res.status !== 401) fail(`expected 401 without a token, got ${res.status}`);
const { resourceMetadataUrl } = extractWWWAuthenticateParams(res);
if (!resourceMetadataUrl) fail('the 401 has no resource_metadata');

for (const [how, opts] of [
  ['from the 401', { resourceMetadataUrl }],
  ['by well-known discovery', undefined],
]) {
  const requested = [];
  const recordingFetch = (url, init) => {
    requested.push(String(url));
    return fetch(url, init);
  };
  const meta = await discoverOAuthProtectedResourceMetadata(serverUrl, opts, recordingFetch);
  const expected = new URL('/.well-known/oauth-protected-resource' + new URL(serverUrl).pathname.replace(/\/$/, ''), serverUrl).href;
  if (requested[0] !== expected) fail(`${how}: first request was ${requested[0]}, expected ${expected}`);
  if (requested.length !== 1) fail(`${how}: needed ${requested.length} requests: ${requested.join(', ')}`);
  if (!checkResourceAllowed({ requestedResource: serverUrl, configuredResource: meta.resource })) {
    fail(`${how}: resource ${meta.resource} does not cover ${serverUrl}`);
  }
  if (!meta.authorization_servers?.length) fail(`${how}: no authorization_servers`);
  console.log(`ok: ${how}: ${requested[0]} -> resource ${meta.resource}`);
}
