// The residents' app (`/`): the shell, the router, the list of performances, sign-in and
// registration. The performance page and "mine" pages live in their own modules.

import { h, mount, field, notice, announce } from './dom.js';
import { t, addStrings, setLang, currentLang, when, price, errorText } from './i18n.js';
import { gql, session, onSession, login, register, logout, features, useSessionKey, subscribe } from './api.js';
import { STRINGS, CATEGORIES } from './strings.js';
import { performancePage } from './performance.js';
import { bookingsPage, waitlistPage, notificationsPage } from './mine.js';
import { app } from './state.js';

useSessionKey('residents');
addStrings(STRINGS);


const main = document.getElementById('main');
const top = document.getElementById('top');

function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}
app.navigate = navigate;

function renderTop() {
  const me = session();
  const items = [h('li', {}, h('a', { href: '#/', text: t('navShows') }))];
  if (me) {
    items.push(h('li', {}, h('a', { href: '#/bookings', text: t('navBookings') })));
    if (app.features.has('Query', 'myWaitlist')) items.push(h('li', {}, h('a', { href: '#/waitlist', text: t('navWaitlist') })));
    if (app.features.has('Query', 'myNotifications')) {
      items.push(h('li', {}, h('a', { href: '#/notifications', id: 'nav-notifications', text: t('navNotifications', { n: app.unread }) })));
    }
    items.push(h('li', {}, h('span', { text: t('hello', { name: me.account.displayName }) })));
    items.push(h('li', {}, h('button', { class: 'link', id: 'sign-out', onclick: async () => { await logout(); navigate('#/'); }, text: t('signOut') })));
  } else {
    items.push(h('li', {}, h('a', { href: '#/login', id: 'nav-sign-in', text: t('signIn') })));
    items.push(h('li', {}, h('a', { href: '#/register', id: 'nav-register', text: t('register') })));
  }
  items.push(h('li', {}, h('button', {
    class: 'link', id: 'lang', lang: currentLang() === 'en' ? 'zh-CN' : 'en', title: t('languageName'),
    onclick: () => { setLang(currentLang() === 'en' ? 'zh-CN' : 'en'); renderTop(); route(); },
    text: t('language'),
  })));
  mount(top, h('a', { class: 'brand', href: '#/', text: t('brand') }), h('nav', { 'aria-label': t('brand') }, h('ul', {}, items)));
  document.querySelector('.skip').textContent = t('skip');
}

function centerName(c) {
  return c ? c.name : '';
}

async function listPage(params) {
  const search = params.get('q') || '';
  const center = params.get('center') || '';
  const category = params.get('category') || '';
  const centerSelect = h('select', { name: 'center' }, h('option', { value: '', text: t('any') }),
    app.centers.map((c) => h('option', { value: c.id, selected: c.id === center, text: c.name })));
  const categorySelect = h('select', { name: 'category' }, h('option', { value: '', text: t('any') }),
    CATEGORIES.map((c) => h('option', { value: c, selected: c === category, text: t(`cat_${c}`) })));
  const searchInput = h('input', { type: 'search', name: 'q', value: search });
  const form = h('form', { class: 'filters', role: 'search', onsubmit: (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    if (searchInput.value.trim()) q.set('q', searchInput.value.trim());
    if (centerSelect.value) q.set('center', centerSelect.value);
    if (categorySelect.value) q.set('category', categorySelect.value);
    navigate(`#/?${q}`);
  } },
  field(t('search'), searchInput), field(t('center'), centerSelect), field(t('category'), categorySelect),
  h('div', { class: 'field' }, h('button', { type: 'submit', text: t('apply') })));
  const list = h('ul', { class: 'cards', id: 'performances' });
  mount(main, h('h1', { text: t('upcoming') }), form, list);
  const filter = { status: 'PUBLISHED', from: new Date().toISOString() };
  if (search) filter.search = search;
  if (center) filter.hostCenterId = center;
  if (category) filter.category = category;
  try {
    const d = await gql(`query($f: PerformanceFilter) { performances(filter: $f, first: 50) { nodes {
      id title category startsAt priceCents capacity seatsAvailable venue { name } hostCenter { name } originCenter { name } } } }`, { f: filter });
    const nodes = d.performances.nodes;
    if (!nodes.length) list.replaceWith(notice(t('none'), 'info'));
    for (const p of nodes) {
      list.append(h('li', { class: 'card' },
        h('h2', {}, h('a', { href: `#/p/${encodeURIComponent(p.id)}`, class: 'perf-link', text: p.title })),
        h('p', {}, h('span', { class: 'tag', text: t(`cat_${p.category}`) }), h('span', { text: when(p.startsAt) })),
        h('p', { class: 'muted', text: `${p.venue.name} · ${centerName(p.hostCenter)}${p.originCenter.name !== p.hostCenter.name ? ` · ${t('origin')} ${p.originCenter.name}` : ''}` }),
        h('p', { text: `${price(p.priceCents)} · ${t('seatsLeft', { n: p.seatsAvailable, cap: p.capacity })}` })));
    }
  } catch (e) {
    list.replaceWith(notice(errorText(e)));
  }
}

function authPage(kind) {
  const email = h('input', { type: 'email', name: 'email', autocomplete: 'email', required: true });
  const password = h('input', { type: 'password', name: 'password', autocomplete: kind === 'login' ? 'current-password' : 'new-password', required: true, minlength: kind === 'login' ? null : 10 });
  const name = h('input', { type: 'text', name: 'displayName', autocomplete: 'name', required: true });
  const home = h('select', { name: 'homeCenter', required: true }, app.centers.map((c) => h('option', { value: c.id, text: c.name })));
  const message = h('div', { id: 'form-message' });
  const button = h('button', { type: 'submit', id: 'auth-submit', text: kind === 'login' ? t('signIn') : t('register') });
  const form = h('form', { class: 'auth', onsubmit: async (e) => {
    e.preventDefault();
    button.disabled = true;
    mount(message);
    try {
      if (kind === 'login') await login(email.value.trim(), password.value);
      else await register({ email: email.value.trim(), password: password.value, displayName: name.value.trim(), homeCenterId: home.value });
      const back = sessionStorage.getItem('zouqin.back') || '#/';
      sessionStorage.removeItem('zouqin.back');
      navigate(back);
    } catch (err) {
      mount(message, notice(errorText(err, kind === 'login' ? { UNAUTHENTICATED: 'wrongLogin' } : { CONFLICT: 'emailTaken' })));
      button.disabled = false;
    }
  } },
  field(t('email'), email),
  field(t('password'), password, kind === 'login' ? null : t('passwordHint')),
  kind === 'login' ? null : field(t('displayName'), name),
  kind === 'login' ? null : field(t('homeCenter'), home),
  message, button);
  mount(main, h('h1', { text: kind === 'login' ? t('signInTitle') : t('registerTitle') }), form,
    h('p', {}, h('a', { href: kind === 'login' ? '#/register' : '#/login', text: kind === 'login' ? t('noAccount') : t('haveAccount') })));
  email.focus();
}

async function route() {
  app.cleanup.splice(0).forEach((f) => f());
  const [path, query] = (location.hash.slice(1) || '/').split('?');
  const params = new URLSearchParams(query || '');
  const parts = path.split('/').filter(Boolean);
  renderTop();
  mount(main, h('p', { class: 'loading', role: 'status', text: t('loading') }));
  if (parts[0] === 'p' && parts[1]) await performancePage(main, decodeURIComponent(parts[1]));
  else if (parts[0] === 'login') authPage('login');
  else if (parts[0] === 'register') authPage('register');
  else if (parts[0] === 'bookings') await bookingsPage(main, params);
  else if (parts[0] === 'waitlist') await waitlistPage(main);
  else if (parts[0] === 'notifications') await notificationsPage(main);
  else await listPage(params);
  if (document.activeElement === document.body) main.focus({ preventScroll: true });
}

let stopNotifications = null;
function watchNotifications() {
  if (stopNotifications) { stopNotifications(); stopNotifications = null; }
  if (!session() || !app.features.has('Subscription', 'notificationAdded')) return;
  gql('{ myNotifications(unreadOnly: true, first: 1) { totalCount } }')
    .then((d) => { app.unread = d.myNotifications.totalCount; renderTop(); })
    .catch(() => {});
  stopNotifications = subscribe('subscription { notificationAdded { id kind message } }', {}, (d) => {
    app.unread += 1;
    renderTop();
    announce(t('newNotification', { message: d.notificationAdded.message }));
    window.dispatchEvent(new CustomEvent('zouqin:notification', { detail: d.notificationAdded }));
  });
}

async function start() {
  app.features = await features();
  try {
    app.centers = (await gql('{ centers { id code name } }')).centers;
  } catch (e) {
    mount(main, notice(errorText(e)));
    return;
  }
  onSession(() => { renderTop(); watchNotifications(); });
  window.addEventListener('hashchange', route);
  watchNotifications();
  await route();
}

start();
