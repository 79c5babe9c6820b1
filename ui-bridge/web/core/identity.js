// Who is signed in (GET /api/identity), with sign-in as a user entity ref
// and sign-out. Listeners get a `change` event after either.

import { identityApi } from './api.js';

const SIGNED_OUT = { signedIn: false, userEntityRef: 'user:default/guest', displayName: 'Guest' };

export class Identity extends EventTarget {
  constructor() {
    super();
    this.current = SIGNED_OUT;
  }

  // Loads the session's identity. On failure the shell stays usable as a
  // signed-out visitor; the error is returned for the caller to show.
  async load() {
    try {
      this.set(await identityApi.get());
      return null;
    } catch (err) {
      return err;
    }
  }

  async signIn(userEntityRef) {
    this.set(await identityApi.signIn(userEntityRef));
  }

  async signOut() {
    await identityApi.signOut();
    // Re-read rather than assume: the server decides what signed out means.
    this.set(await identityApi.get().catch(() => SIGNED_OUT));
  }

  set(identity) {
    this.current = Object.freeze({ ...SIGNED_OUT, ...identity });
    this.dispatchEvent(new Event('change'));
  }
}
