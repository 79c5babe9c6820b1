// The API tab (API entities): for OpenAPI definitions a list of operations,
// then the raw definition (`spec.definition`) with line numbers.

import { h } from '../../core/dom.js';
import { codeView } from '../../components/code-view.js';
import { openApiOperations } from '../../components/openapi.js';

export function renderApiDefinition(el, entity) {
  const spec = entity.spec || {};
  const text = typeof spec.definition === 'string' ? spec.definition : '';
  const wasOpen = el.querySelector('details.definition')?.open;
  const parsed = /openapi|swagger/i.test(spec.type || '') || /^\s*["']?(openapi|swagger)/m.test(text) ? openApiOperations(text) : null;
  const lineCount = text ? text.split('\n').length : 0;

  const content = [h('h2', {}, 'API definition', spec.type ? h('span', { class: 'muted' }, ` (${spec.type})`) : '')];
  if (!text) {
    content.push(h('p', { class: 'muted' }, 'This API entity has no definition.'));
  } else if (parsed) {
    const title = [parsed.title, parsed.version && `version ${parsed.version}`].filter(Boolean).join(', ');
    content.push(
      title && h('p', {}, title),
      h('h3', {}, `Operations (${parsed.operations.length})`),
      parsed.operations.length
        ? h('ul', { class: 'operations', 'data-testid': 'api-operations' }, parsed.operations.map((op) => h('li', {},
          h('span', { class: `method method-${op.method}` }, op.method.toUpperCase()), ' ',
          h('code', {}, op.path),
          op.summary && h('span', { class: 'muted' }, ` — ${op.summary}`))))
        : h('p', { class: 'muted', 'data-testid': 'api-operations' }, 'The definition lists no operations.'),
      h('details', { class: 'definition', open: wasOpen },
        h('summary', {}, `Raw definition (${lineCount} lines)`),
        codeView(text, 'API definition source')));
  } else {
    content.push(codeView(text, 'API definition source'));
  }
  el.replaceChildren(h('section', { 'data-testid': 'api-definition' }, content));
}
