// What the residents' pages share: the schema's optional parts, the centers, clean-ups.

/** Shared page state; `navigate` is set by the shell. */
export const app = { features: null, centers: [], cleanup: [], unread: 0, navigate: (hash) => { location.hash = hash; } };

/** Sends the visitor to sign in, then back here. */
export function requireSignIn() {
  sessionStorage.setItem('zouqin.back', location.hash || '#/');
  app.navigate('#/login');
}
