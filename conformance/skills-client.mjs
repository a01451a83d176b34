// The official TypeScript SDK's `SkillsClient` (@modelcontextprotocol/client, ext/skills) reads
// the skill the article app serves on `/mcp/crm`, in both eras: it lists and gets it, reads its
// files (checking each against the manifest's size and SHA-256 digest, and SKILL.md's
// frontmatter against the listed one) and its folders.
// Usage: node skills-client.mjs <url of /mcp/crm> <api key>
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { SkillsClient } from '@modelcontextprotocol/client/ext/skills';
import { check } from './check.mjs';

const [url, key] = process.argv.slice(2);
const SKILL = 'skill://crm/projects/SKILL.md';

for (const [era, options] of [
  ['2025-11-25', {}],
  ['2026-07-28', { versionNegotiation: { mode: { pin: '2026-07-28' } } }],
]) {
  const client = new Client({ name: 'skills-check', version: '1.0.0' }, options);
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { 'x-api-key': key } } }),
  );
  const skills = new SkillsClient(client);
  check(skills.supported && skills.directoryRead, `${era}: the server declares skills with directoryRead`);

  const listed = await skills.list();
  check(listed.invalid.length === 0, `${era}: every listed skill is valid`);
  check(listed.skills.length === 1 && listed.skills[0].uri === SKILL, `${era}: lists ${SKILL}`);
  if (era === '2026-07-28') {
    check(typeof listed.ttlMs === 'number' && listed.cacheScope === 'private', `${era}: the list says how long to cache it, and for whom`);
  }
  const { skill } = await skills.get(SKILL);
  check(skill.frontmatter.name === 'projects' && skill.frontmatter.metadata?.server === 'CRM Tools', `${era}: gets its frontmatter`);
  check(skill.resources.length === 2, `${era}: its manifest has SKILL.md and the example`);

  const md = await skills.read(skill);
  check(md.verified && md.body.includes("# Working with the CRM's projects"), `${era}: SKILL.md verified (size, digest, frontmatter)`);
  const example = await skills.read(skill, 'examples/weekly-review.md');
  check(example.verified && example.text.startsWith('# A weekly review'), `${era}: the example file verified`);

  const root = await skills.readDirectory('skill://crm/projects');
  const names = root.resources.map((r) => `${r.name}:${r.mimeType}`).sort();
  check(JSON.stringify(names) === '["SKILL.md:text/markdown","examples:inode/directory"]', `${era}: the skill's folder lists ${JSON.stringify(names)}`);
  const examples = await skills.readDirectory('skill://crm/projects/examples');
  check(examples.resources.length === 1 && examples.resources[0].size > 0, `${era}: its examples folder lists the file with its size`);

  let refused = null;
  try {
    await skills.get('skill://crm/nothing/SKILL.md');
  } catch (e) {
    refused = e;
  }
  check(refused && /No skill is served at/.test(String(refused.message)), `${era}: an unknown skill is refused`);
  await client.close();
}
