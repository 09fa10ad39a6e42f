// Small DOM helpers: elements from data (never from HTML strings), SVG, live announcements.

const SVG_NS = 'http://www.w3.org/2000/svg';

function fill(el, attrs, children) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'text') {
      el.textContent = value;
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** An HTML element: `h('button', {class: 'x', onclick}, 'label')`. */
export function h(tag, attrs, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

/** An SVG element. */
export function s(tag, attrs, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

/** Replaces an element's children. */
export function mount(el, ...children) {
  el.replaceChildren();
  return fill(el, {}, children);
}

/** Parses server-made SVG markup (a ticket's QR) into a node, without running anything. */
export function svgFromMarkup(markup, label) {
  const doc = new DOMParser().parseFromString(markup, 'image/svg+xml');
  const node = document.importNode(doc.documentElement, true);
  if (node.nodeName.toLowerCase() !== 'svg') return h('span', { text: '' });
  node.setAttribute('role', 'img');
  node.setAttribute('aria-label', label);
  node.removeAttribute('width');
  node.removeAttribute('height');
  return node;
}

let live;
/** Says `message` to screen readers (and shows it briefly). */
export function announce(message) {
  if (!live) {
    live = h('div', { class: 'toast', role: 'status', 'aria-live': 'polite' });
    document.body.append(live);
  }
  live.textContent = message;
  live.classList.toggle('shown', Boolean(message));
  clearTimeout(announce.timer);
  announce.timer = setTimeout(() => live.classList.remove('shown'), 6000);
}

/** A labelled form field. */
export function field(label, input, hint) {
  const id = input.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  input.id = id;
  return h('div', { class: 'field' },
    h('label', { for: id, text: label }), input,
    hint ? h('small', { class: 'hint', text: hint }) : null);
}

/** A message box for an error or a notice (`role=alert` for errors). */
export function notice(text, kind = 'error') {
  return h('p', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status', text });
}
