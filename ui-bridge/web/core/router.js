// Client-side routing over history.pushState. The server answers every page
// path with the shell (docs/ui-bridge-http.md, "Pages"), so each URL also
// works when loaded directly or reloaded.
//
// A route is {name, pattern, params(match) -> object, key(params), load()}:
// `load` imports the page module, which exports
//   mount(outlet, {url, params, app}) -> View
//   View = {update?({url, params}), unmount?()}
// Navigating to a URL of the same route whose key(params) is unchanged (a
// catalog filter, an entity tab, a plugin's sub-path) calls `update` instead
// of remounting, so the page keeps its DOM, focus and open connections.

export class Router {
  // onRender(url): called after every navigation, to update the chrome.
  constructor(outlet, routes, app, { onRender } = {}) {
    this.outlet = outlet;
    this.onRender = onRender || (() => {});
    this.routes = routes;
    this.app = app;
    this.view = null;
    this.key = null;
    this.token = 0;
  }

  start() {
    document.addEventListener('click', (ev) => this.onClick(ev));
    window.addEventListener('popstate', () => this.render({ navigated: true }));
    this.render({ navigated: false });
  }

  match(pathname) {
    for (const route of this.routes) {
      const m = route.pattern.exec(pathname);
      if (!m) continue;
      try {
        return { route, params: route.params ? route.params(m) : {} };
      } catch {
        return null; // Malformed percent-encoding in the path.
      }
    }
    return null;
  }

  navigate(path, { replace = false } = {}) {
    const url = new URL(path, location.href);
    if (url.origin !== location.origin || !this.match(url.pathname)) {
      location.assign(url.href);
      return;
    }
    const target = url.pathname + url.search + url.hash;
    if (target !== location.pathname + location.search + location.hash) {
      history[replace ? 'replaceState' : 'pushState'](null, '', target);
    }
    this.render({ navigated: !replace });
  }

  // Remounts the current page (after sign-in, which plugins see at mount).
  reload() {
    this.key = null;
    this.render({ navigated: false });
  }

  // Same-origin links to app pages (HTML or SVG anchors) navigate in place.
  onClick(ev) {
    if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
    const a = ev.target instanceof Element ? ev.target.closest('a[href]') : null;
    if (!a || (a.getAttribute('target') || '_self') !== '_self' || a.hasAttribute('download')) return;
    const url = new URL(a.getAttribute('href'), location.href);
    if (url.origin !== location.origin || !this.match(url.pathname)) return;
    // In-page anchors (the skip link) keep the browser's behaviour.
    if (url.hash && url.pathname === location.pathname && url.search === location.search) return;
    ev.preventDefault();
    this.navigate(url.pathname + url.search + url.hash);
  }

  async render({ navigated }) {
    const url = new URL(location.href);
    const match = this.match(url.pathname);
    const key = match ? `${match.route.name}:${match.route.key ? match.route.key(match.params) : ''}` : 'not-found';
    this.onRender(url);
    if (this.view && this.key === key && this.view.update) {
      this.view.update({ url, params: match.params });
      return;
    }

    const token = ++this.token;
    this.view?.unmount?.();
    this.view = null;
    this.key = null;
    this.outlet.setAttribute('aria-busy', 'true');
    let page;
    try {
      page = await (match ? match.route.load() : import('../pages/not-found.js'));
    } catch (err) {
      page = { mount: (outlet) => outlet.append(`This page could not be loaded: ${err.message}`) };
    }
    if (token !== this.token) return; // A later navigation won.
    this.outlet.replaceChildren();
    this.outlet.removeAttribute('aria-busy');
    this.key = key;
    this.view = page.mount(this.outlet, { url, params: match ? match.params : {}, app: this.app }) || {};
    if (navigated) {
      // Move focus to the new page's heading so screen readers announce it.
      window.scrollTo(0, 0);
      const heading = this.outlet.querySelector('h1');
      if (heading && !heading.hasAttribute('tabindex')) heading.setAttribute('tabindex', '-1');
      (heading || this.outlet).focus({ preventScroll: true });
    }
  }
}
