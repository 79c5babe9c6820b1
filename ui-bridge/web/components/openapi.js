// The operations of an OpenAPI (or Swagger 2) definition, JSON or YAML,
// for an overview list. Deliberately simple: YAML is read only by
// indentation (no anchors, flow mappings or multi-document files), enough
// for the `paths:` block of ordinary definitions. Returns null when the
// text does not look like OpenAPI.

const METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);

export function openApiOperations(text) {
  if (typeof text !== 'string') return null;
  if (text.trimStart().startsWith('{')) {
    try {
      return fromObject(JSON.parse(text));
    } catch {
      return null;
    }
  }
  return fromYaml(text);
}

function fromObject(doc) {
  if (!doc || (!doc.openapi && !doc.swagger)) return null;
  const operations = [];
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const [method, op] of Object.entries(item || {})) {
      if (METHODS.has(method)) operations.push({ method, path, summary: (op && (op.summary || op.operationId)) || '' });
    }
  }
  return { title: doc.info?.title || '', version: String(doc.info?.version ?? ''), operations };
}

// `key:` or `key: value` at some indentation; keys may be quoted.
const KEY = /^(\s*)(?:"([^"]*)"|'([^']*)'|([^\s#'"][^:#]*?))\s*:(?:\s+(.*))?$/;

function parseLine(line) {
  const m = KEY.exec(line);
  if (!m) return null;
  let value = (m[5] || '').replace(/\s+#.*$/, '').trim();
  if (/^(["']).*\1$/.test(value)) value = value.slice(1, -1);
  return { indent: m[1].length, key: m[2] ?? m[3] ?? m[4], value };
}

function fromYaml(text) {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() && !l.trimStart().startsWith('#'));
  const top = lines.map(parseLine).filter((l) => l && l.indent === 0);
  if (!top.some((l) => l.key === 'openapi' || l.key === 'swagger')) return null;

  const result = { title: '', version: '', operations: [] };
  let section = null; // the top-level key we are under
  let childIndent = null; // indentation of that section's direct children
  let path = null;
  let methodIndent = null;
  let method = null;
  let fieldIndent = null;
  for (const line of lines) {
    const l = parseLine(line);
    const indent = line.length - line.trimStart().length;
    if (indent === 0) {
      section = l ? l.key : null;
      childIndent = null;
      path = null;
      continue;
    }
    if (!l) continue;
    if (childIndent === null) childIndent = indent;
    if (section === 'info' && indent === childIndent && (l.key === 'title' || l.key === 'version')) {
      result[l.key] = l.value;
    } else if (section === 'paths') {
      if (indent === childIndent) {
        path = l.key;
        methodIndent = null;
        method = null;
      } else if (path && (methodIndent === null || indent === methodIndent) && indent > childIndent) {
        methodIndent = indent;
        method = METHODS.has(l.key.toLowerCase()) ? { method: l.key.toLowerCase(), path, summary: '' } : null;
        fieldIndent = null;
        if (method) result.operations.push(method);
      } else if (method && indent > methodIndent) {
        if (fieldIndent === null) fieldIndent = indent;
        if (indent === fieldIndent && (l.key === 'summary' || (l.key === 'operationId' && !method.summary))) method.summary = l.value;
      }
    }
  }
  return result;
}
