// The header's sign-in state: who is signed in, and Sign in / Sign out.
// Signing in is a guest sign-in as any user entity ref (the demo has no
// identity provider; docs/ui-bridge-http.md, "Identity"), chosen in a modal
// <dialog> that suggests the catalog's users.

import { catalog } from '../core/api.js';
import { h, uid } from '../core/dom.js';
import { entityPath, parseRef } from '../core/refs.js';

// Renders into `slot` and keeps it current. `announce(message)` reports
// the outcome in the shell's live region.
export function userMenu(slot, identity, announce) {
  const dialog = signInDialog(identity, announce);
  const state = h('div', { class: 'user-state' });
  slot.replaceChildren(state, dialog.el);
  // The button that opened the dialog may have been replaced meanwhile.
  dialog.el.addEventListener('close', () => state.querySelector('button')?.focus());
  const render = () => {
    const { signedIn, userEntityRef, displayName } = identity.current;
    const ref = parseRef(userEntityRef, { defaultKind: 'user' });
    const name = h('span', { class: 'user-name', 'data-testid': 'user-name', 'data-signed-in': String(signedIn), title: userEntityRef },
      signedIn && ref ? h('a', { href: entityPath(ref) }, displayName || userEntityRef) : 'Not signed in');
    const button = signedIn
      ? h('button', { type: 'button', class: 'button subtle', 'data-testid': 'signout-button', on: { click: signOut } }, 'Sign out')
      : h('button', { type: 'button', class: 'button subtle', 'data-testid': 'signin-button', on: { click: () => dialog.open() } }, 'Sign in');
    const hadFocus = state.contains(document.activeElement);
    state.replaceChildren(name, button);
    if (hadFocus) button.focus();
  };
  const signOut = async () => {
    try {
      await identity.signOut();
      announce('Signed out.');
    } catch (err) {
      announce(`Sign-out failed: ${err.message}`);
    }
  };
  identity.addEventListener('change', render);
  render();
}

function signInDialog(identity, announce) {
  const inputId = uid('signin-user');
  const listId = uid('signin-users');
  const input = h('input', { id: inputId, name: 'user', required: true, value: 'user:default/guest', list: listId, autocomplete: 'off', spellcheck: 'false', 'data-testid': 'signin-user' });
  const users = h('datalist', { id: listId });
  const error = h('p', { class: 'form-error', role: 'alert' });
  const submit = h('button', { type: 'submit', class: 'button primary', 'data-testid': 'signin-submit' }, 'Sign in');
  const el = h('dialog', { class: 'signin-dialog', 'aria-labelledby': `${inputId}-title`, 'data-testid': 'signin-dialog' });
  const form = h('form', { method: 'dialog' },
    h('h2', { id: `${inputId}-title` }, 'Sign in'),
    h('p', {}, 'Guest sign-in: choose the user entity you act as.'),
    h('label', { for: inputId }, 'User entity reference'),
    input, users, error,
    h('div', { class: 'dialog-actions' },
      h('button', { type: 'button', class: 'button', on: { click: () => el.close() } }, 'Cancel'),
      submit));
  el.append(form);

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const ref = parseRef(input.value.trim(), { defaultKind: 'user' });
    if (!ref || ref.kind.toLowerCase() !== 'user') {
      error.textContent = 'Enter a user entity reference, such as user:default/jane.';
      return;
    }
    submit.disabled = true;
    error.textContent = '';
    try {
      await identity.signIn(`user:${ref.namespace}/${ref.name}`.toLowerCase());
      el.close();
      announce(`Signed in as ${identity.current.displayName || identity.current.userEntityRef}.`);
    } catch (err) {
      error.textContent = `Sign-in failed: ${err.message}`;
    } finally {
      submit.disabled = false;
    }
  });

  // Suggestions are a convenience: if the catalog cannot list users, the
  // field still takes any ref.
  const suggest = async () => {
    try {
      const list = await catalog.getEntities({ filter: { kind: 'user' }, fields: ['kind', 'metadata.name', 'metadata.namespace', 'spec.profile.displayName'], limit: 200 });
      users.replaceChildren(...list.map((u) => {
        const m = u.metadata || {};
        const label = u.spec?.profile?.displayName;
        return h('option', { value: `user:${m.namespace || 'default'}/${m.name}`.toLowerCase() }, label || null);
      }));
    } catch {
      users.replaceChildren();
    }
  };

  return {
    el,
    open() {
      error.textContent = '';
      el.showModal();
      input.select();
      suggest();
    },
  };
}
