// The official TypeScript SDK's client uses the article app's `/mcp/rest`: the REST API's own
// routes as tools (from its OpenAPI document), called through the REST router with the
// client's API key passed on.
// Usage: node rest-client.mjs <url of /mcp/rest> <api key>
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { check } from './check.mjs';

const [url, key] = process.argv.slice(2);
const connect = async (headers) => {
  const client = new Client({ name: 'rest-check', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  return client;
};

const client = await connect({ 'x-api-key': key });
const { tools } = await client.listTools();
const names = tools.map((t) => t.name).sort();
check(JSON.stringify(names) === '["create_project","get_project","list_projects"]', `lists ${JSON.stringify(names)}`);
const create = tools.find((t) => t.name === 'create_project');
check(create.inputSchema.required?.includes('name'), 'create_project takes the body\'s fields');
const created = await client.callTool({ name: 'create_project', arguments: { name: 'From the TypeScript SDK' } });
check(created.structuredContent?.name === 'From the TypeScript SDK', 'creates a project through the REST route');
const one = await client.callTool({ name: 'get_project', arguments: { id: created.structuredContent.id } });
check(one.structuredContent?.id === created.structuredContent.id, 'reads it back through GET /projects/{id}');
await client.close();

const anonymous = await connect({});
const refused = await anonymous.callTool({ name: 'list_projects', arguments: {} });
check(refused.isError && refused.content[0].text.startsWith('HTTP 401'), 'without a key the route refuses');
await anonymous.close();
